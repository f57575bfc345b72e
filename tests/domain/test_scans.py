"""domain/scans.py: how findings are graded and what makes a version UNSAFE."""

from __future__ import annotations

from modelyard.domain.scans import (
    Finding,
    ScanResult,
    ScanStatus,
    Severity,
    grade_import,
    rejection_message,
    verdict,
)


def test_grading_keeps_cloudpickle_code_below_unsafe() -> None:
    assert grade_import("posix", "system", "dangerous") is Severity.CRITICAL
    assert grade_import("cloudpickle.cloudpickle", "_make_function", "dangerous") \
        is Severity.MEDIUM
    assert grade_import("builtins", "__import__", "suspicious") is Severity.CRITICAL
    assert grade_import("sklearn.linear_model", "LogisticRegression", "suspicious") \
        is Severity.LOW


def test_verdict_unsafe_wins_and_unchecked_files_give_the_reason() -> None:
    low = Finding(Severity.LOW, "m.pkl", "sklearn.X", "")
    critical = Finding(Severity.CRITICAL, "m.pkl", "posix.system", "")
    assert verdict([low], [], "s", 1).status is ScanStatus.CLEAN
    unsafe = verdict([low, critical], [("g.pb", "a TensorFlow graph")], "s", 1)
    assert unsafe.status is ScanStatus.UNSAFE and unsafe.findings[0] == critical
    unchecked = verdict([low], [("g.pb", "a TensorFlow graph")], "s", 1)
    assert unchecked.status is ScanStatus.NOT_SCANNED
    assert unchecked.reason == "g.pb: a TensorFlow graph"
    assert ScanResult.from_dict(unsafe.as_dict()) == unsafe
    message = rejection_message("c.s.m", 3, unsafe)
    assert "c.s.m/3" in message and "CRITICAL posix.system in m.pkl" in message
