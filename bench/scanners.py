"""Compare the pickle scanners issue 20 names (modelscan, picklescan, fickling) on one corpus.

Not run by the suite: it needs a scratch venv with all three (only the chosen one is a
dependency of Modelyard), and a corpus built by bench/scan_corpus.py:

    python -m venv /tmp/scanvenv
    /tmp/scanvenv/bin/pip install modelscan==0.8.8 picklescan==1.0.5 fickling==0.1.12 \
        mlflow==3.17.2 scikit-learn==1.9.1 joblib h5py [torch==2.13.0]
    /tmp/scanvenv/bin/python bench/scan_corpus.py /tmp/scan-corpus
    /tmp/scanvenv/bin/python bench/scanners.py /tmp/scan-corpus [--large-mib 1024]

Prints, per corpus item, what each scanner says (its own verdict and the calls it names), then
the cost of each on large files (wall time, CPU time, peak RSS growth) in a fresh process each.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

logging.disable(logging.CRITICAL)


def _files(item: Path) -> list[Path]:
    return sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]


def run_picklescan(item: Path) -> dict[str, Any]:
    from picklescan.scanner import SafetyLevel, scan_file_path

    dangerous: list[str] = []
    suspicious: list[str] = []
    errors = 0
    for path in _files(item):
        try:
            result = scan_file_path(str(path))
        except Exception as error:
            errors += 1
            suspicious.append(f"error:{type(error).__name__}")
            continue
        errors += int(result.scan_err)
        for g in result.globals:
            name = f"{g.module}.{g.name}"
            if g.safety is SafetyLevel.Dangerous:
                dangerous.append(name)
            elif g.safety is SafetyLevel.Suspicious:
                suspicious.append(name)
    verdict = "UNSAFE" if dangerous else "clean"
    return {"verdict": verdict, "dangerous": sorted(set(dangerous)),
            "suspicious": len(set(suspicious)), "errors": errors}


def run_modelscan(item: Path) -> dict[str, Any]:
    from modelscan.modelscan import ModelScan

    scanner = ModelScan()
    report = scanner.scan(str(item))
    issues = report.get("issues", [])
    by_severity: dict[str, list[str]] = {}
    for issue in issues:
        by_severity.setdefault(issue["severity"], []).append(
            f"{issue.get('module')}.{issue.get('operator')}")
    scanned = report["summary"]["scanned"]["total_scanned"]
    skipped = report["summary"]["skipped"]["total_skipped"]
    verdict = "UNSAFE" if issues else ("clean" if scanned else "not scanned")
    return {"verdict": verdict,
            "dangerous": sorted({f"{s}:{n}" for s, names in by_severity.items() for n in names}),
            "errors": len(report.get("errors", [])), "scanned": scanned, "skipped": skipped}


def run_fickling(item: Path) -> dict[str, Any]:
    import fickling
    from fickling.analysis import Severity

    worst = Severity.LIKELY_SAFE
    notes: list[str] = []
    errors = 0
    scanned = 0
    for path in _files(item):
        try:
            if zipfile.is_zipfile(path):
                results = fickling.scan_zip_archive(str(path), graceful=True)
            elif path.suffix in (".h5", ".json", ".yaml", ".txt", ".skops") or \
                    path.name == "MLmodel":
                continue
            else:
                results = {path.name: fickling.scan_file(str(path), graceful=True)}
        except Exception as error:
            errors += 1
            notes.append(f"error:{type(error).__name__}")
            continue
        for result in results.values():
            scanned += 1
            errors += len(result.errors)
            if result.severity > worst:
                worst = result.severity
            for analysis in result.results:
                for r in analysis.results:
                    if r.severity >= Severity.SUSPICIOUS and r.trigger:
                        notes.append(f"{r.severity.name}:{str(r.trigger)[:60]}")
    verdict = ("UNSAFE" if worst >= Severity.LIKELY_UNSAFE else
               "suspicious" if worst > Severity.LIKELY_SAFE else
               "clean" if scanned else "not scanned")
    return {"verdict": verdict, "severity": worst.name, "dangerous": sorted(set(notes))[:6],
            "errors": errors}


def run_modelyard(item: Path) -> dict[str, Any]:
    """Modelyard's scan (services/scanning.py): picklescan's lists, its own walk and grading."""
    from modelyard.domain.scans import ScanReport
    from modelyard.services.scanning import SCANNER, scan_file

    class Directory:
        def open_seekable(self, location: str, path: str) -> Any:
            return (Path(location) / path).open("rb")

    base = item if item.is_dir() else item.parent
    report = ScanReport()
    for path in _files(item):
        scan_file(Directory(), str(base), path.relative_to(base).as_posix(),  # type: ignore[arg-type]
                  report)
    result = report.result(SCANNER, 0)
    return {"verdict": "UNSAFE" if result.status.value == "UNSAFE" else
            "clean" if result.status.value == "CLEAN" else "not scanned",
            "dangerous": sorted({f"{f.severity.value}:{f.call}" for f in result.findings
                                 if f.severity.value != "LOW"})}


SCANNERS = {"picklescan": run_picklescan, "modelscan": run_modelscan, "fickling": run_fickling,
            "modelyard": run_modelyard}


def catch_table(corpus: Path) -> list[dict[str, Any]]:
    rows = []
    for kind in ("malicious", "benign"):
        for item in sorted((corpus / kind).iterdir()):
            row: dict[str, Any] = {"kind": kind, "item": item.name}
            for name, scan in SCANNERS.items():
                started = time.perf_counter()
                try:
                    row[name] = scan(item)
                except Exception as error:
                    row[name] = {"verdict": f"crash:{type(error).__name__}", "dangerous": []}
                row[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
            rows.append(row)
    return rows


def print_catch_table(rows: list[dict[str, Any]]) -> None:
    print("| item | expected | " + " | ".join(SCANNERS) + " |")
    print("|---|---|" + "---|" * len(SCANNERS))
    for row in rows:
        cells = []
        for name in SCANNERS:
            r = row[name]
            said = ", ".join(r.get("dangerous", [])[:3])
            cells.append(f"{r['verdict']}" + (f" ({said})" if said else ""))
        expected = "UNSAFE" if row["kind"] == "malicious" else "not UNSAFE"
        print(f"| {row['item']} | {expected} | " + " | ".join(cells) + " |")
    for name in SCANNERS:
        caught = sum(r[name]["verdict"] == "UNSAFE" for r in rows if r["kind"] == "malicious")
        total = sum(r["kind"] == "malicious" for r in rows)
        false = [r["item"] for r in rows if r["kind"] == "benign"
                 and r[name]["verdict"] == "UNSAFE"]
        print(f"{name}: caught {caught}/{total}; called UNSAFE among benign: {false}")


# ---- cost on large files ----------------------------------------------------------------------

def make_large(directory: Path, mib: int) -> dict[str, Path]:
    """A joblib file of one float array, a torch-style zip with a small data.pkl and a big
    storage, and a plain pickle of bytes, each about `mib` MiB."""
    import pickle

    import joblib
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    size = mib * 1024 * 1024
    joblib_path = directory / "big.joblib"
    if not joblib_path.exists():
        joblib.dump({"w": np.ones(size // 8)}, joblib_path)
    out["joblib"] = joblib_path
    torch_path = directory / "big.pt"
    if not torch_path.exists():
        with zipfile.ZipFile(torch_path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
            z.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
            z.writestr("archive/version", "3\n")
            with z.open("archive/data/0", "w", force_zip64=True) as member:
                chunk = b"\0" * (1 << 22)
                for _ in range(size // len(chunk)):
                    member.write(chunk)
    out["torch"] = torch_path
    pickle_path = directory / "big.pkl"
    if not pickle_path.exists():
        with pickle_path.open("wb") as handle:
            pickle.dump([b"\1" * (1 << 20) for _ in range(mib)], handle, protocol=4)
    out["pickle"] = pickle_path
    # Many small opcodes (64 MiB of 4-byte ints in APPENDS batches): what holding every
    # opcode in a list costs. Not scaled with `mib`: picklescan's list would not fit.
    ops_path = directory / "many_ops.pkl"
    if not ops_path.exists():
        batch = b"(" + b"J\x01\x00\x00\x00" * 1000 + b"e"
        with ops_path.open("wb") as handle:
            handle.write(b"\x80\x04]")
            for _ in range(64 * 1024 * 1024 // len(batch)):
                handle.write(batch)
            handle.write(b".")
    out["many_ops (64 MiB)"] = ops_path
    return out


def cost(scanner: str, path: Path) -> dict[str, float]:
    """Scan one file in a fresh process: wall, CPU and peak RSS."""
    code = (  # noqa: UP031
        "import sys, time, pathlib; sys.path.insert(0, %r); import scanners; "
        "hwm = lambda: int(next(l for l in open('/proc/self/status') "
        "if l.startswith('VmHWM')).split()[1]); "
        "r0 = hwm(); t = time.perf_counter(); "
        "c = time.process_time(); res = scanners.SCANNERS[%r](pathlib.Path(%r)); "
        "import json; print(json.dumps({'wall': time.perf_counter() - t, "
        "'cpu': time.process_time() - c, "
        "'rss_mib': (hwm() - r0) / 1024, "
        "'verdict': res['verdict']}))") % (str(Path(__file__).parent), scanner, str(path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=1800)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def read_once(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as handle:
        while handle.read(4 << 20):
            pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--large-mib", type=int, default=0,
                        help="also measure the cost on files of this size (0: skip)")
    parser.add_argument("--large-dir", type=Path, default=Path("/tmp/scan-large"))
    parser.add_argument("--only", default="",
                        help="comma-separated scanners to run (the venv must have them)")
    args = parser.parse_args()
    if args.only:
        for name in set(SCANNERS) - set(args.only.split(",")):
            del SCANNERS[name]
    print_catch_table(catch_table(args.corpus))
    if args.large_mib:
        files = make_large(args.large_dir, args.large_mib)
        print(f"\nCost on {args.large_mib} MiB files (a fresh process each, page cache warm; "
              "RSS: growth of the peak)")
        print("| file | one read (s) | " + " | ".join(SCANNERS) + " |")
        print("|---|---|" + "---|" * len(SCANNERS))
        for kind, path in files.items():
            read_once(path)  # warm the page cache: compare CPU work, not the disk
            cells = []
            for name in SCANNERS:
                c = cost(name, path)
                cells.append(c["error"][:40] if "error" in c else
                             f"{c['wall']:.2f} s wall, {c['cpu']:.2f} s CPU, "
                             f"+{c['rss_mib']:.0f} MiB, {c['verdict']}")
            print(f"| {kind} | {read_once(path):.2f} | " + " | ".join(cells) + " |")
    os.sys.stdout.flush()


if __name__ == "__main__":
    main()
