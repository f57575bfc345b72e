"""The Databricks Unity Catalog registry dialect (`databricks-uc` registry URI)."""
