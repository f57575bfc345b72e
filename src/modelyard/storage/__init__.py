"""Artifact storage for governed model files: a local directory (default) or an S3-compatible
store. Both stream, both compute SHA-256 digests while files pass through."""
