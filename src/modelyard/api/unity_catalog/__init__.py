"""The Unity Catalog REST API 2.1 (`/api/2.1/unity-catalog/*`), with Databricks' additions."""
