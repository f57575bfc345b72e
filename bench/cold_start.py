"""Cold start of `modelyard serve`: wall time and server CPU from spawn to the first 200 on
`GET /health`, on an empty data directory and on a SQLite database of 1M versions.

    python3 -m venv /tmp/wheel && /tmp/wheel/bin/pip install -c requirements/constraints.txt .
    .venv/bin/python bench/cold_start.py --modelyard-bin /tmp/wheel/bin/modelyard [--starts 7]

Measure an installed package (`pip install .`, not editable): an editable checkout adds import
hooks and reads from the source tree. The 1M database (100,000 models x 10 versions, the data
set of `bench/run.py --size large`) is seeded once with SQL; `--skip-large` leaves it out.
Each start spawns the server, polls `/health` every 10 ms (the harness's RunningServer, as
run.py's cold start does), then reads the server's own utime+stime from /proc before stopping
it. The page cache is warm after the first start, as it
is for a server restarted on a machine that ran it before: the first start is shown apart.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from databases import seed_modelyard
from procfs import cpu_by_pid
from servers import HOST, RunningServer, ServerKind, free_port


def start_once(binary: str, data_dir: Path) -> tuple[float, float]:
    """(wall seconds, server CPU seconds) to the first healthy answer."""
    port = free_port()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    kind = ServerKind("modelyard", "Modelyard", Path(binary), "modelyard")
    # Its log goes beside the data directory, which `serve` finds empty (or as it left it).
    server = RunningServer(kind, [binary, "serve", "--data-dir", str(data_dir), "--host", HOST,
                                  "--port", str(port)], data_dir.parent, port)
    try:
        wall = server.wait_healthy(60)
        cpu = cpu_by_pid([server.pid])[server.pid]
    finally:
        server.stop()
    return wall, cpu


def measure(label: str, binary: str, data_dir: Path, starts: int, fresh: bool) -> None:
    results = []
    for _ in range(starts):
        if fresh:
            shutil.rmtree(data_dir, ignore_errors=True)
        results.append(start_once(binary, data_dir))
    walls = [w for w, _ in results]
    cpus = [c for _, c in results]
    print(f"| {label} | {', '.join(f'{w:.2f}' for w in walls)} | "
          f"{statistics.median(walls[1:] or walls):.2f} | "
          f"{', '.join(f'{c:.2f}' for c in cpus)} | {os.getloadavg()[0]:.2f} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modelyard-bin", required=True, help="an installed (not editable) one")
    parser.add_argument("--starts", type=int, default=7)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--work-dir", type=Path, help="default: a temporary directory")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="modelyard-cold-"))
    print("| data | wall to first 200, each start (s) | median after the first (s) "
          "| server CPU, each start (s) | load average |")
    print("|---|---|---:|---|---:|")
    measure("empty data directory (schema created at start)", args.modelyard_bin,
            work / "empty", args.starts, fresh=True)
    if not args.skip_large:
        large = work / "large"
        if not (large / "modelyard.db").exists():
            start_once(args.modelyard_bin, large)  # creates the schema
            seed_modelyard(f"sqlite:///{large / 'modelyard.db'}", 100_000, 10)
        measure("SQLite, 1M versions", args.modelyard_bin, large, args.starts, fresh=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
