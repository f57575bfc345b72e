"""Model scanning's values and grading rules, in pure Python (issue 20, item 3).

A Unity Catalog version's files are scanned at finalize (services/scanning.py): every pickle it
carries (plain, joblib, inside a PyTorch zip or a numpy file) is walked opcode by opcode for the
imports it makes, Keras files for Lambda layers. What the scanner reports becomes findings,
graded here:

- CRITICAL: an import that runs commands or code, or reads and writes files (`posix.system`,
  `subprocess.*`, `builtins.eval`/`exec`/`getattr`, `runpy`, `functools.partial`, ...): what
  the scanner calls dangerous, except what cloudpickle writes for ordinary Python code;
- HIGH: a Keras Lambda layer carrying Python bytecode (it runs when the model is loaded);
- MEDIUM: cloudpickle's rebuilding of functions and classes from their code (`_make_function`,
  `_builtin_type`, `subimport`, ...): what MLflow's pyfunc models and cloudpickle-saved models
  contain; their code runs at load, the registry cannot tell what it does. Python source saved
  with a model (MLflow's models from code) likewise;
- LOW: imports the scanner does not know (a library's own classes, e.g. `sklearn...`).

A version is UNSAFE when any finding is CRITICAL or HIGH, CLEAN when every file that could
carry code was checked and none is, NOT_SCANNED (with the reason) when one could not be checked
(an unsupported format, a scanner error) or the version has not been scanned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ScanStatus(StrEnum):
    CLEAN = "CLEAN"
    UNSAFE = "UNSAFE"
    NOT_SCANNED = "NOT_SCANNED"


class ScanMode(StrEnum):
    """What finalize does with an UNSAFE version (`--scan-mode`)."""

    FLAG = "flag"  # it becomes READY, marked UNSAFE
    REJECT = "reject"  # it ends FAILED_REGISTRATION, the findings as its status message


def parse_mode(text: str) -> ScanMode:
    try:
        return ScanMode(text.strip().lower())
    except ValueError:
        raise ValueError(f"Invalid scan mode {text!r}: use 'flag' or 'reject'.") from None


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1}

#: Severities that make a version UNSAFE.
UNSAFE_SEVERITIES = frozenset({Severity.CRITICAL, Severity.HIGH})

#: What cloudpickle writes to rebuild functions and classes by value (its module's helpers and
#: the code type): present in every MLflow pyfunc `python_model.pkl`. The code runs at load,
#: but these imports alone are how cloudpickle works, not a gadget.
CLOUDPICKLE_CODE = frozenset({
    "cloudpickle.cloudpickle._builtin_type", "cloudpickle.cloudpickle._make_function",
    "cloudpickle.cloudpickle._function_setstate", "cloudpickle.cloudpickle._make_cell",
    "cloudpickle.cloudpickle._make_empty_cell", "cloudpickle.cloudpickle.subimport",
    "cloudpickle.cloudpickle._class_setstate", "cloudpickle.cloudpickle._make_skeleton_class",
    "cloudpickle.cloudpickle._make_skeleton_enum", "cloudpickle.cloudpickle._enum_getnewargs",
    "cloudpickle.cloudpickle._make_dict_keys", "cloudpickle.cloudpickle._make_dict_values",
    "cloudpickle.cloudpickle._make_dict_items", "cloudpickle.cloudpickle.dynamic_subimport",
    "cloudpickle.cloudpickle._make_typevar", "cloudpickle.cloudpickle_fast._builtin_type",
    "types.CodeType",
})

#: Imports picklescan 1.0.5 only calls suspicious that are as dangerous as what it lists:
#: `__import__('os')` is half of every getattr gadget (modelscan lists it as CRITICAL).
ALSO_CRITICAL = frozenset({"builtins.__import__", "__builtin__.__import__",
                           "importlib.import_module", "code.interact", "operator.attrgetter"})

#: Findings kept per version (the rest are counted): a model may import hundreds of classes.
MAX_FINDINGS = 100


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    #: The file within the version; `file:member` for a member of a zip archive.
    file: str
    #: What loading would call or build, `module.name` (e.g. `posix.system`), or `Keras.Lambda`.
    call: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"severity": self.severity.value, "file": self.file, "call": self.call,
                "message": self.message}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Finding:
        return cls(Severity(raw["severity"]), str(raw["file"]), str(raw["call"]),
                   str(raw.get("message", "")))


def grade_import(module: str, name: str, scanner_says: str) -> Severity:
    """The severity of a pickle's import, from what the scanner says of it ('dangerous',
    'suspicious' or 'innocuous'; innocuous ones are not findings)."""
    call = f"{module}.{name}"
    if scanner_says == "dangerous":
        return Severity.MEDIUM if call in CLOUDPICKLE_CODE else Severity.CRITICAL
    return Severity.CRITICAL if call in ALSO_CRITICAL else Severity.LOW


def import_message(call: str, severity: Severity) -> str:
    if severity is Severity.CRITICAL:
        return (f"Loading this file calls {call}: a pickle that imports it can run commands "
                "or code on the machine that loads the model.")
    if severity is Severity.MEDIUM:
        return (f"Loading this file rebuilds Python code with {call} (cloudpickle, as MLflow "
                "pyfunc models are saved): the code runs at load; review where it comes from.")
    return f"Loading this file imports {call}, which the scanner does not know as safe."


@dataclass(frozen=True, slots=True)
class ScanResult:
    status: ScanStatus
    findings: tuple[Finding, ...] = ()
    #: Why a version is NOT_SCANNED (an unsupported format, a scanner error, never scanned).
    reason: str = ""
    #: The scanner and its version, e.g. `picklescan 1.0.5`.
    scanner: str = ""
    scanned_at: int = 0
    #: Files whose content was checked, and the bytes read to check them.
    files_scanned: int = 0
    bytes_read: int = 0
    #: Findings beyond MAX_FINDINGS, not kept.
    more_findings: int = 0

    @property
    def unsafe_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity in UNSAFE_SEVERITIES]

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status.value,
                "findings": [f.as_dict() for f in self.findings],
                "more_findings": self.more_findings, "reason": self.reason,
                "scanner": self.scanner, "scanned_at": self.scanned_at,
                "files_scanned": self.files_scanned, "bytes_read": self.bytes_read}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ScanResult:
        return cls(
            status=ScanStatus(raw.get("status", ScanStatus.NOT_SCANNED.value)),
            findings=tuple(Finding.from_dict(f) for f in raw.get("findings", [])),
            reason=str(raw.get("reason", "")), scanner=str(raw.get("scanner", "")),
            scanned_at=int(raw.get("scanned_at", 0)),
            files_scanned=int(raw.get("files_scanned", 0)),
            bytes_read=int(raw.get("bytes_read", 0)),
            more_findings=int(raw.get("more_findings", 0)))

    def summary(self) -> dict[str, Any]:
        """What the audit trail keeps of a scan."""
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
        return {"scan": self.status.value, "findings": counts,
                "calls": sorted({f.call for f in self.unsafe_findings}),
                "reason": self.reason, "scanner": self.scanner}


#: A version nobody scanned (a prompt version without files, one made before scanning existed).
NEVER_SCANNED = ScanResult(ScanStatus.NOT_SCANNED, reason="The version has not been scanned.")


@dataclass
class ScanReport:
    """What the scan of one version collects, file by file (services/scanning.py fills it)."""

    findings: list[Finding] = field(default_factory=list)
    #: Files that could carry code but could not be checked: (file, why).
    unchecked: list[tuple[str, str]] = field(default_factory=list)
    files_scanned: int = 0
    bytes_read: int = 0

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def result(self, scanner: str, scanned_at: int) -> ScanResult:
        return verdict(self.findings, self.unchecked, scanner, scanned_at, self.files_scanned,
                       self.bytes_read)


def verdict(findings: Iterable[Finding], unchecked: Iterable[tuple[str, str]], scanner: str,
            scanned_at: int, files_scanned: int = 0, bytes_read: int = 0) -> ScanResult:
    """CLEAN, UNSAFE or NOT_SCANNED from the findings and the files left unchecked. An unsafe
    finding wins over an unchecked file: what was found is certain."""
    ordered = sorted(set(findings), key=lambda f: (-f.severity.rank, f.file, f.call))
    kept, more = tuple(ordered[:MAX_FINDINGS]), max(0, len(ordered) - MAX_FINDINGS)
    left = list(unchecked)
    status, reason = ScanStatus.CLEAN, ""
    if any(f.severity in UNSAFE_SEVERITIES for f in kept):
        status = ScanStatus.UNSAFE
    elif left:
        status = ScanStatus.NOT_SCANNED
        reason = "; ".join(f"{path}: {why}" for path, why in left[:5])
        if len(left) > 5:
            reason += f" (and {len(left) - 5} more files)"
    return ScanResult(status, kept, reason=reason, scanner=scanner, scanned_at=scanned_at,
                      files_scanned=files_scanned, bytes_read=bytes_read, more_findings=more)


def rejection_message(full_name: str, version: int, result: ScanResult) -> str:
    """The status message of a version `--scan-mode reject` refused."""
    shown = result.unsafe_findings[:5]
    parts = [f"{f.severity.value} {f.call} in {f.file}" for f in shown]
    more = len(result.unsafe_findings) - len(shown)
    listed = "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
    return (f"Model version {full_name}/{version} was rejected by the model scan "
            f"(--scan-mode reject): loading its files would run code: {listed}. Remove the "
            "pickled code (save the model in a format without it, e.g. safetensors or skops) "
            "and register it again.")
