"""A version's signature and flavors, read from the MLmodel file it stores, for display."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: An MLmodel file is small; refuse to parse anything much larger.
MAX_MLMODEL_BYTES = 1 << 20


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = True
    shape: str = ""


@dataclass(frozen=True)
class ModelInfo:
    inputs: list[Column] = field(default_factory=list)
    outputs: list[Column] = field(default_factory=list)
    params: list[Column] = field(default_factory=list)
    flavors: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def has_signature(self) -> bool:
        return bool(self.inputs or self.outputs or self.params)


def _columns(raw: Any) -> list[Column]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    columns = []
    for index, spec in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(spec, dict):
            continue
        kind = str(spec.get("type", ""))
        if kind == "tensor":
            tensor = spec.get("tensor-spec") or {}
            kind = f"tensor<{tensor.get('dtype', '?')}>"
            shape = str(tuple(tensor.get("shape", ()))) if tensor.get("shape") else ""
        else:
            shape = ""
            if kind in ("array", "object", "map"):
                kind = json.dumps({k: v for k, v in spec.items()
                                   if k not in ("name", "required")}, sort_keys=True)
        default = spec.get("default")
        name = str(spec.get("name", f"[{index}]"))
        if default is not None:
            shape = f"default {default!r}"
        columns.append(Column(name, kind, bool(spec.get("required", True)), shape))
    return columns


def parse_mlmodel(data: bytes) -> ModelInfo:
    if len(data) > MAX_MLMODEL_BYTES:
        return ModelInfo(error="The MLmodel file is too large to show.")
    import yaml  # here: PyYAML is 20 ms of a server's start, needed by few requests

    try:
        document = yaml.safe_load(data.decode("utf-8", errors="replace"))
    except yaml.YAMLError:
        return ModelInfo(error="The MLmodel file is not valid YAML.")
    if not isinstance(document, dict):
        return ModelInfo(error="The MLmodel file is not a mapping.")
    signature = document.get("signature") or {}
    if not isinstance(signature, dict):
        signature = {}
    flavors = document.get("flavors") or {}
    return ModelInfo(inputs=_columns(signature.get("inputs")),
                     outputs=_columns(signature.get("outputs")),
                     params=_columns(signature.get("params")),
                     flavors=sorted(flavors) if isinstance(flavors, dict) else [])


def signature_text(info: ModelInfo | None, part: str) -> str:
    """One part of the signature (inputs, outputs, params) as lines, for comparing versions."""
    if info is None:
        return ""
    return "\n".join(f"{c.name}: {c.type}{'' if c.required else ' (optional)'}"
                     for c in getattr(info, part))
