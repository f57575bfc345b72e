"""services/scanning.py: every UC version's files are scanned at finalize; the result is stored
on the version, audited, usable in policies; `--scan-mode reject` fails an UNSAFE version.
The pickles below that would run a command are written, never loaded."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.bootstrap import Modelyard
from modelyard.domain.catalog import Lineage, VersionStatus
from modelyard.domain.errors import FailedPrecondition
from modelyard.domain.policies import PolicyViolation
from modelyard.domain.scans import ScanMode, ScanStatus, Severity
from modelyard.services import scanning
from modelyard.services.scanning import ModelRejected
from modelyard.storage.local import file_uri_to_path
from tests.services.conftest import ADMIN, events, uc_model
from tests.support.quickstart_model import SOURCE as QUICKSTART_SOURCE
from tests.support.quickstart_model import quickstart_model
from tests.support.uc_models import REQUIREMENTS, SIGNED_MLMODEL


class RunsCommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


class RunsSubprocess:
    def __reduce__(self) -> tuple[object, tuple[list[str]]]:
        return (subprocess.check_output, (["echo", "pwned"],))


def _pending(built: Modelyard, full_name: str) -> tuple[int, Path]:
    version = built.uc_models.create_version(ADMIN, full_name, "s3://b/x", lineage=Lineage())
    directory = file_uri_to_path(version.storage_location)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLmodel").write_text(SIGNED_MLMODEL)
    return version.version, directory


def _finalized(built: Modelyard, full_name: str, files: dict[str, bytes]) -> int:
    number, directory = _pending(built, full_name)
    for path, data in files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(data)
    return built.uc_models.finalize_version(ADMIN, full_name, number).version


def _torch_zip(payload: bytes) -> bytes:
    """What torch.save writes: a zip whose archive/data.pkl is the pickle, storages beside."""
    import io
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/data/0", b"\0" * 4096)
    return buffer.getvalue()


@pytest.fixture()
def reject_mode(built: Modelyard) -> Iterator[None]:
    built.scans.mode = ScanMode.REJECT
    try:
        yield
    finally:
        built.scans.mode = ScanMode.FLAG


def test_a_pickle_that_runs_os_system_is_unsafe_naming_the_call(built: Modelyard,
                                                                unique: str) -> None:
    full_name = uc_model(built, unique)
    number = _finalized(built, full_name, {"model.pkl": pickle.dumps({"m": RunsCommand()})})
    # flag (the default): the version is READY, marked UNSAFE.
    assert built.uc_models.get_version(ADMIN, full_name, number).status is VersionStatus.READY
    scan = built.scans.get(ADMIN, full_name, number)
    assert scan.status is ScanStatus.UNSAFE
    [finding] = scan.unsafe_findings
    assert (finding.severity, finding.file, finding.call) == (
        Severity.CRITICAL, "model.pkl", f"{os.name}.system")  # posix.system
    assert "run commands" in finding.message
    assert scan.scanner.startswith("picklescan ")
    [audited] = events(built, "model_version.scan", f"{full_name}/{number}")
    assert audited.after["scan"] == "UNSAFE"
    assert audited.after["calls"] == ["posix.system"]


#: Hand-written gadgets: names reached through the memo, and builtins.getattr(__import__('os'),
#: 'system')('echo') without naming os.system at all.
MEMO_GADGET = (b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94h\x00h\x01\x93\x94\x8c\x04echo"
               b"\x94\x85\x94R\x94.")
GETATTR_GADGET = (b"\x80\x04\x8c\x08builtins\x94\x8c\x07getattr\x94\x93\x94\x8c\x08builtins\x94"
                  b"\x8c\n__import__\x94\x93\x94\x8c\x02os\x94\x85\x94R\x94\x8c\x06system\x94"
                  b"\x86\x94R\x94\x8c\x04echo\x94\x85\x94R\x94.")


@pytest.mark.parametrize("kind", ["joblib", "joblib-compressed", "torch", "subprocess",
                                  "eval", "keras", "noext", "memo", "getattr", "npy"])
def test_every_format_that_runs_code_on_load_is_unsafe(built: Modelyard, unique: str,
                                                       tmp_path: Path, kind: str) -> None:
    evil = RunsCommand()
    if kind == "joblib":
        joblib.dump({"w": np.ones(4), "evil": evil}, tmp_path / "m.joblib")
        files = {"model.joblib": (tmp_path / "m.joblib").read_bytes()}
    elif kind == "joblib-compressed":
        joblib.dump({"evil": evil}, tmp_path / "m.joblib", compress=3)
        files = {"model.joblib": (tmp_path / "m.joblib").read_bytes()}
    elif kind == "torch":
        files = {"data/model.pt": _torch_zip(pickle.dumps({"state": evil}, protocol=2))}
    elif kind == "subprocess":
        files = {"model.pkl": pickle.dumps([1, RunsSubprocess()])}
    elif kind == "eval":
        files = {"model.pickle": pickle.dumps(_Eval())}
    elif kind == "keras":
        config = {"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Lambda", "config": {"function": {
                "class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}}}]}}
        buffer = _zip({"config.json": json.dumps(config).encode(), "metadata.json": b"{}"})
        files = {"model.keras": buffer}
    elif kind == "memo":
        files = {"model.pkl": MEMO_GADGET}
    elif kind == "getattr":
        files = {"model.pkl": GETATTR_GADGET}
    elif kind == "npy":
        np.save(tmp_path / "a.npy", np.array([evil], dtype=object), allow_pickle=True)
        files = {"arrays.npz": _zip({"a.npy": (tmp_path / "a.npy").read_bytes()})}
    else:
        files = {"weights": pickle.dumps(evil)}
    full_name = uc_model(built, unique)
    number = _finalized(built, full_name, files)
    scan = built.scans.get(ADMIN, full_name, number)
    assert scan.status is ScanStatus.UNSAFE, scan
    expected = {"subprocess": "subprocess.check_output", "eval": "builtins.eval",
                "keras": "Keras.Lambda", "getattr": "builtins.getattr"}.get(kind, "posix.system")
    assert expected in {f.call for f in scan.unsafe_findings}


class _Eval:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, ("1 + 1",))


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()





def test_mlflow_standard_flavors_are_not_unsafe(built: Modelyard, unique: str,
                                                tmp_path: Path) -> None:
    # The README quickstart's pyfunc model (cloudpickle), and sklearn in each format MLflow
    # writes (skops by default, pickle and cloudpickle on request).
    pyfunc = tmp_path / "quickstart"
    mlflow.pyfunc.save_model(str(pyfunc), python_model=quickstart_model(),
                             pip_requirements=REQUIREMENTS)
    x, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    estimator = LogisticRegression().fit(x, y)
    saved = {"pyfunc": pyfunc}
    for fmt in ("skops", "pickle", "cloudpickle"):
        saved[f"sklearn-{fmt}"] = tmp_path / f"sk-{fmt}"
        mlflow.sklearn.save_model(estimator, str(saved[f"sklearn-{fmt}"]),
                                  serialization_format=fmt, pip_requirements=["scikit-learn"])
    # MLflow's models from code: the model's source file instead of a pickle.
    source = tmp_path / "model_code.py"
    source.write_text(QUICKSTART_SOURCE + "\nmlflow.models.set_model(AddN(5))\n")
    saved["models-from-code"] = tmp_path / "from-code"
    mlflow.pyfunc.save_model(str(saved["models-from-code"]), python_model=str(source),
                             pip_requirements=REQUIREMENTS)
    for label, directory in saved.items():
        files = {p.relative_to(directory).as_posix(): p.read_bytes()
                 for p in directory.rglob("*") if p.is_file() and p.name != "MLmodel"}
        full_name = uc_model(built, f"{unique}_{label.replace('-', '_')}")
        number = _finalized(built, full_name, files)
        scan = built.scans.get(ADMIN, full_name, number)
        assert scan.status is ScanStatus.CLEAN, (label, scan)
        if label == "models-from-code":
            assert "Python source" in {f.call for f in scan.findings}
        if label == "pyfunc":
            # What the scanner says of cloudpickle's code is reported, graded MEDIUM.
            graded = {f.call: f.severity for f in scan.findings}
            assert any(call.startswith("cloudpickle.") for call in graded), graded
            assert Severity.MEDIUM in graded.values()


def test_data_only_versions_are_clean_and_unsupported_formats_not_scanned(
        built: Modelyard, unique: str) -> None:
    full_name = uc_model(built, unique)
    clean = _finalized(built, full_name, {"model.safetensors": b"\x08\x00{}      ",
                                          "config.json": b"{}",
                                          "weights.pkl.gz": gzip.compress(b"not a pickle")})
    assert built.scans.get(ADMIN, full_name, clean).status is ScanStatus.CLEAN
    saved_model = _finalized(built, full_name, {"saved_model.pb": b"\x08\x01"})
    scan = built.scans.get(ADMIN, full_name, saved_model)
    assert scan.status is ScanStatus.NOT_SCANNED
    assert "saved_model.pb: a TensorFlow graph" in scan.reason


def test_reject_mode_fails_an_unsafe_version_with_the_findings(built: Modelyard, unique: str,
                                                               reject_mode: None) -> None:
    full_name = uc_model(built, unique)
    number, directory = _pending(built, full_name)
    (directory / "model.pkl").write_bytes(pickle.dumps(RunsCommand()))
    with pytest.raises(ModelRejected) as rejected:
        built.uc_models.finalize_version(ADMIN, full_name, number)
    assert isinstance(rejected.value, FailedPrecondition)
    assert "CRITICAL posix.system in model.pkl" in rejected.value.message
    version = built.uc_models.get_version(ADMIN, full_name, number)
    assert version.status is VersionStatus.FAILED_REGISTRATION
    assert "posix.system" in version.status_message
    assert built.scans.get(ADMIN, full_name, number).status is ScanStatus.UNSAFE
    assert events(built, "model_version.fail", f"{full_name}/{number}")
    # A clean version still becomes READY.
    clean = _finalized(built, full_name, {"model.pkl": pickle.dumps({"w": [1, 2]})})
    assert built.uc_models.get_version(ADMIN, full_name, clean).status is VersionStatus.READY


def test_policy_on_scan_blocks_the_unsafe_version(built: Modelyard, unique: str) -> None:
    full_name = uc_model(built, unique)
    unsafe = _finalized(built, full_name, {"model.pkl": pickle.dumps(RunsCommand())})
    clean = _finalized(built, full_name, {"model.pkl": pickle.dumps({"w": 1})})
    built.policies.create(ADMIN, f"p-{unique}", full_name, "champion", None, "scan = 'CLEAN'")
    try:
        with pytest.raises(PolicyViolation, match=r"scan = 'CLEAN' \(scan is 'UNSAFE'\)"):
            built.uc_models.set_alias(ADMIN, full_name, "champion", unsafe)
        built.uc_models.set_alias(ADMIN, full_name, "champion", clean)
    finally:
        built.policies.delete(ADMIN, f"p-{unique}")


def test_rescan_on_demand_and_its_refusals(built: Modelyard, unique: str,
                                           new_user: object) -> None:
    full_name = uc_model(built, unique)
    number = _finalized(built, full_name, {"model.pkl": pickle.dumps({"w": 1})})
    before = built.scans.get(ADMIN, full_name, number)
    again = built.scans.rescan(ADMIN, full_name, number)
    assert again.status is ScanStatus.CLEAN and again.scanned_at >= before.scanned_at
    assert len(events(built, "model_version.scan", f"{full_name}/{number}")) == 2
    pending, _ = _pending(built, full_name)
    with pytest.raises(FailedPrecondition, match="only a READY version"):
        built.scans.rescan(ADMIN, full_name, pending)
    never = built.scans.get(ADMIN, full_name, pending)
    assert never.status is ScanStatus.NOT_SCANNED and "not been scanned" in never.reason


def test_a_pickle_too_large_to_walk_is_not_scanned(built: Modelyard, unique: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanning, "OPCODE_BUDGET", 1000)
    monkeypatch.setattr(scanning, "OPCODES_PER_BYTE", 0)
    full_name = uc_model(built, unique)
    number = _finalized(built, full_name, {"model.pkl": pickle.dumps(list(range(5000)))})
    scan = built.scans.get(ADMIN, full_name, number)
    assert scan.status is ScanStatus.NOT_SCANNED
    assert "model.pkl: too large to scan: more than 1,000 pickle opcodes" in scan.reason
    # What it found before the budget ran out still counts.
    unsafe = _finalized(built, full_name, {
        "model.pkl": pickle.dumps([RunsCommand(), *range(5000)])})
    assert built.scans.get(ADMIN, full_name, unsafe).status is ScanStatus.UNSAFE
