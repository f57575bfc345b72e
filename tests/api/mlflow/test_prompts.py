"""MLflow prompts are registered models marked by tags; they work through the same API."""

from __future__ import annotations

import mlflow
from mlflow import MlflowClient


def test_register_load_and_search_prompts(mlflow_client: MlflowClient, unique_name: str) -> None:
    first = mlflow.genai.register_prompt(unique_name, "Hello {{name}}!", tags={"team": "x"},
                                         commit_message="v1")
    second = mlflow.genai.register_prompt(unique_name, "Hi {{name}}, welcome!")
    assert (first.version, second.version) == (1, 2)
    mlflow.genai.set_prompt_alias(unique_name, "production", 1)

    loaded = mlflow.genai.load_prompt(f"prompts:/{unique_name}@production")
    assert loaded.template == "Hello {{name}}!"
    assert loaded.format(name="Ada") == "Hello Ada!"
    assert mlflow.genai.load_prompt(f"prompts:/{unique_name}/2").template.startswith("Hi")

    found = mlflow.genai.search_prompts(f"name = '{unique_name}'")
    assert [p.name for p in found] == [unique_name]
    # Prompts stay out of ordinary model searches.
    assert mlflow_client.search_registered_models(f"name = '{unique_name}'") == []
