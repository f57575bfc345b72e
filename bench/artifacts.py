"""Artifact throughput: a large file up and down through Modelyard's signed file URLs, compared
with `curl` against a static file server (nginx) on the same machine.

    .venv/bin/python bench/artifacts.py                 # 1 GiB, SQLite, local storage
    .venv/bin/python bench/artifacts.py --size-mib 64   # quicker

Modelyard: a Unity Catalog model version is created pending, `POST /api/2.0/fs/create-upload-url`
gives a signed URL, `curl -T` PUTs the file there (streamed to storage, hashed on the way),
the version is finalized, `create-download-url` gives a signed URL that `curl` GETs to
/dev/null. The baseline is the same two `curl` commands against nginx (WebDAV PUT, static GET),
or `python -m http.server` for the download when nginx is not installed. The server's peak RSS
(all its processes, sampled from /proc every 50 ms) shows whether memory stays flat.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from procfs import RssSampler
from servers import HOST, free_port

BLOCK = 1024 * 1024
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


def nginx_baseline(work: Path, file: Path) -> tuple[str, float, float] | None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if nginx is None:
        return None
    root = work / "nginx"
    # nginx's worker runs as another user (www-data when started as root): let it in.
    work.chmod(0o755)
    for folder in (root, root / "www", root / "logs", root / "tmp"):
        folder.mkdir()
        folder.chmod(0o777)
    file.chmod(0o644)
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
        url = f"http://{HOST}:{port}/upload.bin"
        up = curl(["-T", str(file), url])
        down = curl([url])
        return "nginx 1.22 (WebDAV PUT, static GET)", up, down
    finally:
        proc.terminate()
        proc.wait(10)


def http_server_baseline(work: Path, file: Path) -> tuple[str, float, float]:
    port = free_port()
    (work / "www").mkdir()
    os.link(file, work / "www" / "upload.bin")
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", HOST,
                             "--directory", str(work / "www")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://{HOST}:{port}/")
        down = curl([f"http://{HOST}:{port}/upload.bin"])
        return "python -m http.server (GET only)", float("nan"), down
    finally:
        proc.terminate()
        proc.wait(10)


def modelyard_run(work: Path, file: Path, size_mib: int, binary: str
                  ) -> tuple[float, float, float, float]:
    """(upload s, finalize s, download s, peak RSS MiB of the server's process tree)."""
    port = free_port()
    data = work / "modelyard"
    data.mkdir()
    log = (work / "modelyard.log").open("wb")
    proc = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", str(data)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://{HOST}:{port}"
    try:
        wait_http(base + "/health")
        uc = "/api/2.0/mlflow/unity-catalog"
        api(base, f"{uc}/registered-models/create", {"name": MODEL})
        version = api(base, f"{uc}/model-versions/create",
                      {"name": MODEL, "source": "s3://elsewhere/model"})["model_version"]
        number = str(version["version"])  # type: ignore[index]
        prefix = "/Models/" + MODEL.replace(".", "/") + f"/{number}"
        with RssSampler(proc.pid, interval_s=0.05) as rss:
            url = str(api(base, "/api/2.0/fs/create-upload-url",
                          {"path": f"{prefix}/MLmodel"})["url"])
            subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-T", "-", url],
                           input=MLMODEL, check=True)
            url = str(api(base, "/api/2.0/fs/create-upload-url",
                          {"path": f"{prefix}/data/weights.bin"})["url"])
            up = curl(["-T", str(file), url])
            started = time.perf_counter()
            api(base, f"{uc}/model-versions/finalize", {"name": MODEL, "version": number})
            finalize = time.perf_counter() - started
            url = str(api(base, "/api/2.0/fs/create-download-url",
                          {"path": f"{prefix}/data/weights.bin"})["url"])
            down = curl([url])
        return up, finalize, down, rss.peak_total_kib / 1024
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--modelyard-bin", default=str(Path(sys.executable).parent / "modelyard"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-artifacts-"))
    try:
        file = work / "blob.bin"
        make_file(file, args.size_mib)
        mib = args.size_mib
        baseline = nginx_baseline(work, file) or http_server_baseline(work, file)
        label, base_up, base_down = baseline
        up, finalize, down, rss = modelyard_run(work, file, args.size_mib, args.modelyard_bin)

        def rate(seconds: float) -> str:
            return "n/a" if seconds != seconds else f"{mib / seconds:,.0f}"

        curl_version = subprocess.run(["curl", "--version"], check=True, capture_output=True,
                                      text=True).stdout.split()[1]
        print(f"\n{mib} MiB file, curl {curl_version}; MiB/s:\n")
        print("| transfer | curl → Modelyard | curl → " + label + " | Modelyard / baseline |")
        print("|---|---:|---:|---:|")
        for name, mine, theirs in (("upload (PUT)", up, base_up),
                                   ("download (GET)", down, base_down)):
            ratio = "n/a" if theirs != theirs else f"{theirs / mine:.0%}"
            print(f"| {name} | {rate(mine)} | {rate(theirs)} | {ratio} |")
        print(f"\nfinalize (re-reads and hashes every file): {finalize:.1f} s; "
              f"Modelyard peak RSS over upload, finalize and download: {rss:.0f} MiB")
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
