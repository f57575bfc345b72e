"""domain/model_signing.py: what a signature must cover, and how the verdict reads."""

from __future__ import annotations

from modelyard.domain.model_signing import (
    MAX_PROBLEMS_NAMED,
    SigningStatus,
    coverage_problems,
    mismatch,
    unsigned,
)


def test_exactly_the_same_files_is_no_problem() -> None:
    files = {"MLmodel": "aa" * 32, "data/w.bin": "bb" * 32}
    assert coverage_problems(dict(files), files) == []
    # Digests compare whatever their case.
    assert coverage_problems({k: v.upper() for k, v in files.items()}, files) == []


def test_added_changed_and_missing_files_are_each_named() -> None:
    signed = {"MLmodel": "aa" * 32, "w.bin": "bb" * 32, "gone.txt": "cc" * 32}
    files = {"MLmodel": "aa" * 32, "w.bin": "00" * 32, "new.pkl": "dd" * 32}
    assert coverage_problems(signed, files) == [
        "'new.pkl' is not covered by the signature (added after signing)",
        "'w.bin' was changed after signing",
        "'gone.txt' is signed but not in the version"]


def test_a_long_mismatch_names_a_few_and_counts_the_rest() -> None:
    problems = [f"'f{i}' was changed after signing" for i in range(MAX_PROBLEMS_NAMED + 3)]
    verdict = mismatch("key sha256:ab", problems)
    assert verdict.status is SigningStatus.FILES_MISMATCH and not verdict.signed
    assert "'f4' was changed" in verdict.detail and "'f5'" not in verdict.detail
    assert "and 3 more" in verdict.detail
    assert verdict.as_dict()["signed"] is False


def test_unsigned_says_how_to_sign_and_whether_anyone_is_trusted() -> None:
    assert "--trusted-signers" in unsigned(0).detail
    assert "--trusted-signers" not in unsigned(2).detail
    assert "model_signing sign key" in unsigned(2).detail
