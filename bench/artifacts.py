"""Artifact throughput: a large file up and down through Modelyard's signed file URLs, compared
with `curl` against a static file server (nginx) on the same machine.

    .venv/bin/python bench/artifacts.py                 # 1 GiB, 3 rounds, SQLite, local storage
    .venv/bin/python bench/artifacts.py --size-mib 64   # quicker

Modelyard: a Unity Catalog model version is created pending, `POST /api/2.0/fs/create-upload-url`
gives a signed URL, `curl -T` PUTs the file there (streamed to storage, hashed on the way),
the version is finalized, `create-download-url` gives a signed URL that `curl` GETs to
/dev/null. The baseline is the same two `curl` commands against nginx (WebDAV PUT written to a
file on the same disk, static GET), or `python -m http.server` for the download only when nginx
is not installed (the output says so). Baseline and Modelyard alternate for `--rounds` rounds,
each after a `sync`, and the median is reported: writes into the page cache vary a lot from one
second to the next on a shared machine, and alternating lets both sides see the same. The
server's RSS (all its processes, sampled from /proc every 50 ms) shows whether memory stays flat.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from procfs import RssSampler, process_tree, rss_kib
from servers import HOST, free_port

BLOCK = 1024 * 1024
UC = "/api/2.0/mlflow/unity-catalog"
MODEL = "main.default.bench_artifacts"
#: Unity Catalog requires a signature with inputs and outputs at finalize.
MLMODEL = b"""artifact_path: model
flavors:
  python_function: {loader_module: mlflow.pyfunc.model, python_version: 3.11.7}
signature:
  inputs: '[{"type": "long", "name": "x", "required": true}]'
  outputs: '[{"type": "long", "name": "x", "required": true}]'
"""


def make_file(path: Path, size_mib: int) -> str:
    """`size_mib` MiB of incompressible bytes; returns their SHA-256."""
    digest = hashlib.sha256()
    seed = os.urandom(BLOCK)
    with path.open("wb") as out:
        for index in range(size_mib):
            block = hashlib.sha256(index.to_bytes(8, "big")).digest() + seed[32:]
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def curl(args: list[str]) -> float:
    """Run curl; the seconds it took."""
    started = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", *args], check=True)
    return time.perf_counter() - started


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def api(base: str, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            result: dict[str, object] = json.loads(answer.read() or b"{}")
            return result
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"POST {path}: {error.code} {error.read().decode()}") from None


class Baseline:
    """A static file server: `upload` PUTs the file (NaN where the server cannot take a PUT),
    `download` GETs it back."""

    def __init__(self, label: str, url: str, can_put: bool) -> None:
        self.label, self.url, self.can_put = label, url, can_put

    def upload(self, file: Path) -> float:
        return curl(["-T", str(file), self.url]) if self.can_put else float("nan")

    def download(self) -> float:
        return curl([self.url])


def _nginx_version(nginx: str) -> str:
    answer = subprocess.run([nginx, "-v"], capture_output=True, text=True)
    return (answer.stderr.strip().rpartition("/")[2] or "?").split()[0]


@contextmanager
def nginx_server(work: Path) -> Iterator[Baseline | None]:
    """nginx with WebDAV PUT into a folder on the same disk, or None when it is not
    installed."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if nginx is None:
        yield None
        return
    root = work / "nginx"
    # nginx's worker runs as another user (www-data when started as root): let it in.
    work.chmod(0o755)
    for folder in (root, root / "www", root / "logs", root / "tmp"):
        folder.mkdir()
        folder.chmod(0o777)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(f"""
daemon off; worker_processes 1; pid {root}/nginx.pid; error_log {root}/logs/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off; sendfile on; client_max_body_size 0; client_body_temp_path {root}/tmp;
  server {{ listen {HOST}:{port}; root {root}/www;
            location / {{ dav_methods PUT; create_full_put_path on; }} }}
}}
""")
    proc = subprocess.Popen([nginx, "-p", str(root), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (root / "www" / "probe").write_text("ok")
        wait_http(f"http://{HOST}:{port}/probe")
        yield Baseline(f"nginx {_nginx_version(nginx)} (WebDAV PUT, static GET)",
                       f"http://{HOST}:{port}/upload.bin", can_put=True)
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def http_server(work: Path, file: Path) -> Iterator[Baseline]:
    """`python -m http.server` serving the file (it takes no PUT: no upload baseline)."""
    port = free_port()
    (work / "www").mkdir()
    os.link(file, work / "www" / "upload.bin")
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", HOST,
                             "--directory", str(work / "www")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://{HOST}:{port}/")
        yield Baseline("python -m http.server (GET only)",
                       f"http://{HOST}:{port}/upload.bin", can_put=False)
    finally:
        proc.terminate()
        proc.wait(10)


class Modelyard:
    """A Modelyard server (SQLite, local storage); each `round` uploads the file into a new
    pending version, finalizes it and downloads the file again."""

    def __init__(self, base: str) -> None:
        self.base = base
        api(base, f"{UC}/registered-models/create", {"name": MODEL})

    def round(self, file: Path) -> tuple[float, float, float]:
        """(upload s, finalize s, download s)."""
        base = self.base
        version = api(base, f"{UC}/model-versions/create",
                      {"name": MODEL, "source": "s3://elsewhere/model"})["model_version"]
        number = str(version["version"])  # type: ignore[index]
        prefix = "/Models/" + MODEL.replace(".", "/") + f"/{number}"
        url = str(api(base, "/api/2.0/fs/create-upload-url",
                      {"path": f"{prefix}/MLmodel"})["url"])
        subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-T", "-", url],
                       input=MLMODEL, check=True)
        url = str(api(base, "/api/2.0/fs/create-upload-url",
                      {"path": f"{prefix}/data/weights.bin"})["url"])
        up = curl(["-T", str(file), url])
        started = time.perf_counter()
        api(base, f"{UC}/model-versions/finalize", {"name": MODEL, "version": number})
        finalize = time.perf_counter() - started
        url = str(api(base, "/api/2.0/fs/create-download-url",
                      {"path": f"{prefix}/data/weights.bin"})["url"])
        return up, finalize, curl([url])


@contextmanager
def modelyard_server(work: Path, binary: str) -> Iterator[tuple[Modelyard, int]]:
    """The server and its pid."""
    port = free_port()
    data = work / "modelyard"
    data.mkdir()
    log = (work / "modelyard.log").open("wb")
    proc = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", str(data)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://{HOST}:{port}"
    try:
        wait_http(base + "/health")
        yield Modelyard(base), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate baseline and Modelyard this many times (median)")
    parser.add_argument("--modelyard-bin", default=str(Path(sys.executable).parent / "modelyard"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-artifacts-"))
    mib = args.size_mib
    times: dict[str, list[float]] = {key: [] for key in
                                     ("base_up", "base_down", "up", "finalize", "down")}
    try:
        file = work / "blob.bin"
        make_file(file, mib)
        file.chmod(0o644)
        with contextlib.ExitStack() as stack:
            baseline = stack.enter_context(nginx_server(work))
            if baseline is None:
                print("nginx is not installed (apt-get install nginx): the baseline is "
                      "python -m http.server, download only.", flush=True)
                baseline = stack.enter_context(http_server(work, file))
            modelyard, pid = stack.enter_context(modelyard_server(work, args.modelyard_bin))
            idle_mib = sum(rss_kib(p) for p in process_tree(pid)) / 1024
            with RssSampler(pid, interval_s=0.05) as rss:
                for _ in range(args.rounds):
                    # Alternated, so that both see the same machine (page cache, other load).
                    os.sync()
                    times["base_up"].append(baseline.upload(file))
                    times["base_down"].append(baseline.download())
                    os.sync()
                    up, finalize, down = modelyard.round(file)
                    times["up"].append(up)
                    times["finalize"].append(finalize)
                    times["down"].append(down)
            label = baseline.label
        t = {key: median(values) for key, values in times.items()}

        def rate(seconds: float) -> str:
            return "n/a" if seconds != seconds else f"{mib / seconds:,.0f}"

        def spread(key: str) -> str:
            rates = sorted(mib / s for s in times[key] if s == s)
            return "n/a" if not rates else f"{rates[0]:,.0f}–{rates[-1]:,.0f}"

        curl_version = subprocess.run(["curl", "--version"], check=True, capture_output=True,
                                      text=True).stdout.split()[1]
        print(f"\n{mib} MiB file, curl {curl_version}, median of {args.rounds} alternated "
              f"rounds (range in brackets); MiB/s:\n")
        print("| transfer | curl → Modelyard | curl → " + label + " | Modelyard / baseline |")
        print("|---|---:|---:|---:|")
        for name, mine, theirs in (("upload (PUT)", "up", "base_up"),
                                   ("download (GET)", "down", "base_down")):
            ratio = "n/a" if t[theirs] != t[theirs] else f"{t[theirs] / t[mine]:.0%}"
            print(f"| {name} | {rate(t[mine])} ({spread(mine)}) | {rate(t[theirs])} "
                  f"({spread(theirs)}) | {ratio} |")
        print(f"\nfinalize (re-reads and hashes every file): {t['finalize']:.1f} s; "
              f"Modelyard RSS (all its processes): {idle_mib:.0f} MiB idle, "
              f"{rss.peak_total_kib / 1024:.0f} MiB peak over all rounds")
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
