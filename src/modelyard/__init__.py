"""Modelyard: a self-hosted model registry that speaks the MLflow and Unity Catalog APIs."""

__version__ = "0.1.0"
