"""Identity: SCIM users, groups, service principals, Me; personal access tokens."""
