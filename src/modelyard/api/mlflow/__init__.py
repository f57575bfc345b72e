"""The MLflow Model Registry REST API 2.0, as the `mlflow` client speaks it."""
