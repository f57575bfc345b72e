"""What the model scan adds to finalizing a large Unity Catalog version (issue 20 item 3).

Builds the services in process (bootstrap.build, SQLite in a temporary directory, local
storage), writes one version of each kind below, about `--mib` MiB each, and finalizes it twice
over: once with the scan off (the digest pass only) and once with it on (the digest pass and
the scan). Prints wall time, CPU time and the bytes the process read (`rchar` of
/proc/self/io: every read() call, page cache or not) for each, and the scan's verdict.

    .venv/bin/python bench/scan.py --mib 1024

Kinds: a PyTorch-style zip (torch.save's layout: a small data.pkl and a large storage), a
joblib file of one float array, safetensors weights beside a small pickle, and a plain pickle
of 1 MiB byte strings (the worst case: every byte is walked as pickle data).
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
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


KINDS: dict[str, Callable[[Path, int], None]] = {
    "pytorch zip": torch_zip, "joblib": joblib_array, "safetensors + pickle": safetensors,
    "plain pickle": plain_pickle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    try:
        settings = Settings(data_dir=root)
        database = Database(settings.resolved_database_url)
        upgrade(database)
        built = build(settings, database)
        built.uc_models.create_model(LOCAL_ADMIN, "main", "default", "big")
        scanner = built.uc_models.scanner
        print(f"| version ({args.mib} MiB) | finalize, scan off | finalize, scan on | "
              "scan's share | bytes read off → on | verdict |")
        print("|---|---|---|---|---|---|")
        for kind in args.kinds.split(","):
            rows = []
            for scanning in (False, True):
                version = built.uc_models.create_version(LOCAL_ADMIN, "main.default.big",
                                                         "s3://b/x", lineage=Lineage())
                directory = file_uri_to_path(version.storage_location)
                directory.mkdir(parents=True, exist_ok=True)
                (directory / "MLmodel").write_text(MLMODEL)
                KINDS[kind](directory, args.mib)
                for file in directory.rglob("*"):  # warm the page cache: CPU, not the disk
                    if file.is_file():
                        with file.open("rb") as handle:
                            while handle.read(4 << 20):
                                pass
                built.uc_models.scanner = scanner if scanning else None
                read, wall, cpu = rchar(), time.perf_counter(), time.process_time()
                built.uc_models.finalize_version(LOCAL_ADMIN, "main.default.big",
                                                 version.version)
                rows.append((time.perf_counter() - wall, time.process_time() - cpu,
                             rchar() - read))
                verdict = (built.scans.get(LOCAL_ADMIN, "main.default.big",
                                           version.version).status.value if scanning else "")
                built.uc_models.delete_version(LOCAL_ADMIN, "main.default.big",
                                               version.version)
            (off_wall, off_cpu, off_read), (on_wall, on_cpu, on_read) = rows
            print(f"| {kind} | {off_wall:.2f} s ({off_cpu:.2f} s CPU) | {on_wall:.2f} s "
                  f"({on_cpu:.2f} s CPU) | {on_wall - off_wall:+.2f} s | "
                  f"{off_read / 2**20:,.0f} → {on_read / 2**20:,.0f} MiB | {verdict} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
