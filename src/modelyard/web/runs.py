"""What the pages show from the tracking server: run rows, signatures, and why something is
missing."""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.services.tracking import ModelFiles, RunLookup
from modelyard.web.signature import ModelInfo, parse_mlmodel, signature_text

Row = tuple[str, list[str]]


def metric_text(value: float) -> str:
    """The shortest text that reads back as the same float, so equal text means equal value."""
    return repr(value)


def run_rows(lookups: Sequence[RunLookup]) -> list[Row]:
    """Run name and status, then one row per param and per metric of any of the runs."""
    runs = [lookup.run for lookup in lookups]
    params = sorted({key for run in runs if run for key in run.params})
    metrics = sorted({key for run in runs if run for key in run.metrics})
    rows: list[Row] = [("Run name", [run.name if run else "" for run in runs]),
                       ("Run status", [run.status if run else "" for run in runs])]
    rows += [(f"param: {key}", [run.params.get(key, "") if run else "" for run in runs])
             for key in params]
    rows += [(f"metric: {key}",
              [metric_text(run.metrics[key]) if run and key in run.metrics else ""
               for run in runs]) for key in metrics]
    return rows


def model_info(found: ModelFiles) -> ModelInfo | None:
    return parse_mlmodel(found.mlmodel) if found.mlmodel is not None else None


def signature_rows(infos: Sequence[ModelInfo | None]) -> list[Row]:
    return [(f"Signature {part}", [signature_text(info, part) for info in infos])
            for part in ("inputs", "outputs", "params")]


def missing_notes(versions: Sequence[str], reasons: Sequence[str]) -> list[str]:
    """"Versions 1, 2: why", one line per distinct reason, for what a compare page lacks."""
    grouped: dict[str, list[str]] = {}
    for version, reason in zip(versions, reasons, strict=True):
        if reason:
            grouped.setdefault(reason, []).append(version)
    return [f"{'Version' if len(names) == 1 else 'Versions'} {', '.join(names)}: {reason}"
            for reason, names in grouped.items()]
