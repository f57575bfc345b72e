"""What the model scan adds to finalizing a large Unity Catalog version (issue 20 item 3).

Builds the services in process (bootstrap.build, SQLite in a temporary directory, local
storage), writes one version of each kind below, about `--mib` MiB each, and measures the two
passes finalize makes over its files: the digest pass it always made (one read and SHA-256)
and the scan, alternating, the fastest of `--rounds` each: wall time, CPU time and the bytes
the process read (`rchar` of /proc/self/io: every read() call, page cache or not). Then it
finalizes the version and prints what that read in all, and the scan's verdict.

    .venv/bin/python bench/scan.py --mib 1024

Kinds: a PyTorch-style zip (torch.save's layout: a small data.pkl and a large storage), a
joblib file of one float array, safetensors weights beside a small pickle, and a plain pickle
of 1 MiB byte strings (the worst case: every byte is walked as pickle data).
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from modelyard.bootstrap import build
from modelyard.config import Settings
from modelyard.domain.actor import LOCAL_ADMIN
from modelyard.domain.catalog import Lineage
from modelyard.storage.local import file_uri_to_path
from modelyard.store.database import Database
from modelyard.store.migrate import upgrade

MLMODEL = ("flavors: {}\nsignature:\n  inputs: '[{\"type\": \"long\", \"name\": \"x\"}]'\n"
           "  outputs: '[{\"type\": \"long\", \"name\": \"x\"}]'\n")
CHUNK = b"\1" * (4 << 20)


def rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def _fill(handle: object, mib: int) -> None:
    for _ in range(mib // 4):
        handle.write(CHUNK)  # type: ignore[attr-defined]


def torch_zip(directory: Path, mib: int) -> None:
    with zipfile.ZipFile(directory / "model.pt", "w", zipfile.ZIP_STORED,
                         allowZip64=True) as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"weight": 1}, protocol=2))
        archive.writestr("archive/version", "3\n")
        with archive.open("archive/data/0", "w", force_zip64=True) as member:
            _fill(member, mib)


def joblib_array(directory: Path, mib: int) -> None:
    import joblib
    import numpy as np

    joblib.dump({"w": np.ones(mib * 1024 * 1024 // 8)}, directory / "model.joblib")


def safetensors(directory: Path, mib: int) -> None:
    with (directory / "model.safetensors").open("wb") as handle:
        handle.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{}              ")
        _fill(handle, mib)
    (directory / "tokenizer.pkl").write_bytes(pickle.dumps({"vocab": ["a", "b"]}))


def plain_pickle(directory: Path, mib: int) -> None:
    with (directory / "model.pkl").open("wb") as handle:
        pickle.dump([b"\1" * (1 << 20) for _ in range(mib)], handle, protocol=4)


def small_opcodes(directory: Path, mib: int) -> None:
    """The worst case for any opcode walk: a list of 4-byte ints, ~200,000 opcodes a MiB."""
    batch = b"(" + b"J\x01\x00\x00\x00" * 1000 + b"e"
    with (directory / "model.pkl").open("wb") as handle:
        handle.write(b"\x80\x04]")
        for _ in range(mib * 1024 * 1024 // len(batch)):
            handle.write(batch)
        handle.write(b".")


KINDS: dict[str, Callable[[Path, int], None]] = {
    "pytorch zip": torch_zip, "joblib": joblib_array, "safetensors + pickle": safetensors,
    "plain pickle": plain_pickle, "small opcodes": small_opcodes}
#: Not by default: at 1 GiB it takes minutes (run it with --kinds 'small opcodes' --mib 64).
DEFAULT_KINDS = "pytorch zip,joblib,safetensors + pickle,plain pickle"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--kinds", default=DEFAULT_KINDS)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    try:
        settings = Settings(data_dir=root)
        database = Database(settings.resolved_database_url)
        upgrade(database)
        built = build(settings, database)
        built.uc_models.create_model(LOCAL_ADMIN, "main", "default", "big")
        scanner = built.scans
        print(f"| version ({args.mib} MiB) | digest pass (one read + SHA-256) | scan | "
              "scan / digest (wall) | finalize with the scan: read | verdict |")
        print("|---|---|---|---|---|---|")
        for kind in args.kinds.split(","):
            version = built.uc_models.create_version(LOCAL_ADMIN, "main.default.big",
                                                     "s3://b/x", lineage=Lineage())
            directory = file_uri_to_path(version.storage_location)
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "MLmodel").write_text(MLMODEL)
            KINDS[kind](directory, args.mib)
            os.sync()  # the new file's writeback must not land in what is measured
            location = version.storage_location
            files = [(f.path, f.size) for f in built.artifacts.list_files(location)]
            steps: dict[str, Callable[[], object]] = {
                "digest": partial(built.artifacts.digest_files, location),
                "scan": partial(scanner.scan_files, location, files)}
            best: dict[str, tuple[float, float, int]] = {}
            # Alternating, `--rounds` times each, page cache warm; the fastest of each shown
            # (the machine is shared: wall times vary, CPU time and bytes read much less).
            for name in ["digest", "scan"] * args.rounds:
                read, wall, cpu = rchar(), time.perf_counter(), time.process_time()
                steps[name]()
                measured = (time.perf_counter() - wall, time.process_time() - cpu,
                            rchar() - read)
                if name not in best or measured[0] < best[name][0]:
                    best[name] = measured
            read = rchar()
            built.uc_models.finalize_version(LOCAL_ADMIN, "main.default.big", version.version)
            finalize_read = rchar() - read
            verdict = built.scans.get(LOCAL_ADMIN, "main.default.big",
                                      version.version).status.value
            built.uc_models.delete_version(LOCAL_ADMIN, "main.default.big", version.version)
            (d_wall, d_cpu, d_read), (s_wall, s_cpu, s_read) = best["digest"], best["scan"]
            print(f"| {kind} | {d_wall:.2f} s, {d_cpu:.2f} s CPU, {d_read / 2**20:,.0f} MiB "
                  f"| {s_wall:.2f} s, {s_cpu:.2f} s CPU, {s_read / 2**20:,.1f} MiB | "
                  f"{s_wall / d_wall:.2f} | {finalize_read / 2**20:,.0f} MiB | {verdict} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
