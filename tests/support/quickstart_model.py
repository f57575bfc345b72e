"""The README quickstart's pyfunc model, as a user's script defines it: the scan tests check
that what cloudpickle saves of it (its class by value, code included) is not called UNSAFE."""

from __future__ import annotations

SOURCE = """
import mlflow


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input.apply(lambda column: column + self.n)
"""


def quickstart_model(n: int = 5) -> object:
    """An instance whose class lives in `__main__`, as in the user's script: cloudpickle saves
    such a class by value."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(SOURCE, namespace)
    return namespace["AddN"](n)  # type: ignore[operator]
