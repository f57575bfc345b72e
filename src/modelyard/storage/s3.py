"""The S3-compatible backend: locations are `s3://bucket/prefix/…` URIs.

Endpoint and credentials come from the standard AWS variables, read by boto3 itself
(`AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, `AWS_DEFAULT_REGION`, profiles …), so AWS, MinIO, SeaweedFS and moto all
work unchanged. With a custom endpoint, path-style addressing is used (what every S3-compatible
store understands).

Uploads are streamed as multipart uploads in parts of PART_SIZE: the server holds at most one
part in memory per upload, and an object only becomes visible when the upload completes, so a
crash mid-upload leaves no partial object under its real key (the dangling multipart upload is
aborted when its location is deleted).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Any, BinaryIO, cast
from urllib.parse import urlparse

import boto3
from anyio import to_thread
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from modelyard.domain.clock import now_ms
from modelyard.domain.credentials import TemporaryCredentials
from modelyard.domain.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from modelyard.domain.file_paths import too_long, validate_file_path
from modelyard.storage.base import CHUNK_SIZE, StoredFile

#: Multipart part size: above S3's 5 MiB minimum, and the most one upload holds in memory.
PART_SIZE = 8 * 1024 * 1024
_DELETE_BATCH = 1000


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> ("bucket", "a/b")."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidArgument(f"Not an S3 location: {uri}")
    return parsed.netloc, parsed.path.strip("/")


#: Governed locations live below `<root>/__unitystorage/` (services.uc_models).
RESERVED_DIR = "__unitystorage"
#: S3's limit on a key's length, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


def _endpoint(service: str) -> str | None:
    return (os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
            or os.environ.get("AWS_ENDPOINT_URL") or None)


def client_for(service: str, attempts: int = 5, timeout: float | None = None,
               report_outages: bool = True) -> Any:
    """A boto3 client configured from the standard AWS environment; a store that cannot be
    reached raises Unavailable (a 503 for the client), not botocore's errors (a 500), unless
    `report_outages` is off (the caller turns every failure into an answer of its own)."""
    style = "path" if _endpoint(service) else "auto"
    timeouts: dict[str, Any] = ({} if timeout is None
                                else {"connect_timeout": timeout, "read_timeout": timeout})
    config = Config(s3={"addressing_style": style}, signature_version="s3v4",
                    retries={"max_attempts": attempts, "mode": "standard"}, **timeouts)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    client = boto3.session.Session().client(service, region_name=region, config=config)
    if report_outages:
        _report_outages(client)
    return client


#: The store did not answer (refused, timed out, hung up), or answered that it cannot now.
_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
                ConnectionClosedError)
_UNAVAILABLE_CODES = frozenset({"ServiceUnavailable", "SlowDown", "InternalError",
                                "RequestTimeout", "503", "500"})


def _report_outages(client: Any) -> None:
    """Every operation of `client` (paginators' too) goes through its `_make_api_call`, after
    botocore's own retries: wrapped here, an outage of the store becomes Unavailable."""
    call = client._make_api_call

    def make_api_call(operation: str, params: dict[str, Any]) -> Any:
        try:
            return call(operation, params)
        except _UNREACHABLE as error:
            raise Unavailable("The object store cannot be reached right now; retry in a few "
                              "seconds.") from error
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            code = error.response.get("Error", {}).get("Code", "")
            if status in (500, 502, 503, 504) or code in _UNAVAILABLE_CODES:
                raise Unavailable("The object store is not answering right now; retry in a "
                                  "few seconds.") from error
            raise

    client._make_api_call = make_api_call


def scoped_policy(bucket: str, prefix: str, write: bool) -> str:
    """An IAM session policy that allows one location (a version's prefix) and nothing else."""
    actions = ["s3:GetObject"]
    if write:
        actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts"]
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": actions,
             "Resource": [f"arn:aws:s3:::{bucket}/{prefix}/*"]},
            # HeadBucket (the mlflow client's region lookup) is a ListBucket without a prefix,
            # hence IfExists; listing with a prefix is limited to the location.
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": [f"arn:aws:s3:::{bucket}"],
             "Condition": {"StringLikeIfExists": {"s3:prefix": [f"{prefix}/*", prefix]}}},
        ],
    })


class S3ArtifactStore:
    """An ArtifactStore over one bucket and key prefix."""

    scheme = "s3"

    def __init__(self, root: str) -> None:
        bucket, prefix = split_s3_uri(root)
        self.bucket = bucket
        self.prefix = prefix
        self.root = f"s3://{bucket}/{prefix}".rstrip("/")
        self.client = client_for("s3")
        self._probe: Any = None

    def check_reachable(self) -> None:
        # A client of its own, quick to give up: the readiness check must answer while S3 is
        # down, not after the data client's retries.
        if self._probe is None:
            self._probe = client_for("s3", attempts=1, timeout=2.0)
        self._probe.head_bucket(Bucket=self.bucket)

    # ---- locations --------------------------------------------------------------------------

    def location_for(self, *parts: str) -> str:
        return "/".join([self.root, *(p.strip("/") for p in parts)])

    def _key(self, location: str, path: str) -> tuple[str, str]:
        bucket, base = self._split(location)
        key = f"{base}/{validate_file_path(path)}"
        size = len(key.encode())
        if size > MAX_KEY_BYTES:
            raise too_long(path, size, MAX_KEY_BYTES)
        return bucket, key

    def check_file_path(self, location: str, path: str) -> None:
        self._key(location, path)

    def _split(self, location: str) -> tuple[str, str]:
        bucket, base = split_s3_uri(location)
        if not base:
            raise InvalidArgument(f"Location {location} needs a key prefix.")
        return bucket, base

    # ---- writing ----------------------------------------------------------------------------

    async def write_stream(self, location: str, path: str,
                           chunks: AsyncIterator[bytes]) -> StoredFile:
        staged = await self.stage_stream(location, path, chunks)
        await to_thread.run_sync(staged.publish)
        return staged.stored

    async def stage_stream(self, location: str, path: str,
                           chunks: AsyncIterator[bytes]) -> _S3Staged:
        """Parts are uploaded as they arrive; the object appears only at `publish`
        (complete_multipart_upload, or put_object of the one buffered part)."""
        bucket, key = self._key(location, path)
        digest, size = hashlib.sha256(), 0
        # Chunks wait in a list and are joined once per part: one copy of each byte, so the
        # memory of an upload stays near one part whatever the file's size. A part may run a
        # chunk over PART_SIZE; S3 allows parts of different sizes (≥ 5 MiB but the last).
        pending: list[bytes] = []
        pending_size = 0
        staged = _S3Staged(self, bucket, key, StoredFile(path, 0))
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= PART_SIZE:
                    if staged.upload_id is None:
                        created = await to_thread.run_sync(partial(
                            self.client.create_multipart_upload, Bucket=bucket, Key=key))
                        staged.upload_id = created["UploadId"]
                    part = b"".join(pending)
                    pending, pending_size = [], 0
                    staged.parts.append(await self._upload_part(
                        bucket, key, staged.upload_id, len(staged.parts) + 1, part))
                    del part
            if staged.upload_id is not None and pending:
                staged.parts.append(await self._upload_part(
                    bucket, key, staged.upload_id, len(staged.parts) + 1, b"".join(pending)))
                pending = []
        except BaseException:  # the stream broke: leave nothing behind
            await to_thread.run_sync(staged.discard)
            raise
        staged.small = b"".join(pending) if staged.upload_id is None else None
        staged.stored = StoredFile(path, size, digest.hexdigest())
        return staged

    async def _upload_part(self, bucket: str, key: str, upload_id: str, number: int,
                           data: bytes) -> dict[str, Any]:
        answer = await to_thread.run_sync(partial(
            self.client.upload_part, Bucket=bucket, Key=key, UploadId=upload_id,
            PartNumber=number, Body=data))
        return {"ETag": answer["ETag"], "PartNumber": number}

    def _abort(self, bucket: str, key: str, upload_id: str) -> None:
        # On failure the location's deletion aborts it again.
        with contextlib.suppress(ClientError, BotoCoreError):
            self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)

    # ---- reading ----------------------------------------------------------------------------

    def read_stream(self, location: str, path: str) -> Iterator[bytes]:
        bucket, key = self._key(location, path)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound(f"File '{path}' not found in {location}") from None
            raise
        return self._chunks(body)

    def open_seekable(self, location: str, path: str) -> BinaryIO:
        """The object opened for random access, each read a ranged GET (1 MiB at least,
        buffered): the model scan (services/scanning.py) reads a zip's directory at its end
        and only the members that may hold code."""
        bucket, key = self._key(location, path)
        try:
            size = int(self.client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound(f"File '{path}' not found in {location}") from None
            raise
        raw = _RangedObject(self.client, bucket, key, size)
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=CHUNK_SIZE))

    @staticmethod
    def _chunks(body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK_SIZE)
        finally:
            body.close()

    def list_files(self, location: str) -> list[StoredFile]:
        bucket, base = self._split(location)
        files = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=base + "/")
        for page in pages:
            for item in page.get("Contents", []):
                relative = item["Key"][len(base) + 1:]
                if relative and not relative.endswith("/"):  # skip directory markers
                    files.append(StoredFile(
                        relative, int(item["Size"]), fingerprint=f"{item.get('ETag', '')}@"
                        f"{item.get('LastModified', '')}"))
        return sorted(files, key=lambda f: f.path)

    def digest_files(self, location: str) -> list[StoredFile]:
        result = []
        for stored in self.list_files(location):
            digest, size = hashlib.sha256(), 0
            for chunk in self.read_stream(location, stored.path):
                digest.update(chunk)
                size += len(chunk)
            result.append(StoredFile(stored.path, size, digest.hexdigest(),
                                     stored.fingerprint))
        return result

    # ---- deleting ---------------------------------------------------------------------------

    def delete_location(self, location: str) -> None:
        bucket, base = self._split(location)
        prefix = base + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start:start + _DELETE_BATCH]
            answer = self.client.delete_objects(Bucket=bucket, Delete={
                "Objects": [{"Key": k} for k in batch], "Quiet": True})
            if answer.get("Errors"):  # keep the location queued: raise, do not forget it
                first = answer["Errors"][0]
                raise OSError(f"S3 refused to delete {len(answer['Errors'])} object(s) of "
                              f"{location}, e.g. {first.get('Key')}: {first.get('Code')}")
        # Uploads cut off by a crash are invisible to listing but still hold storage.
        try:
            uploads = self.client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        except ClientError:
            return
        for upload in uploads.get("Uploads", []):
            self._abort(bucket, upload["Key"], upload["UploadId"])

    def remove_stale_uploads(self, roots: list[str], older_than: float) -> int:
        """Abort the multipart uploads below these roots' governed prefixes that began before
        `older_than` (epoch seconds) and got no part since: uploads cut off by a crash, a kill
        or an outage of the store, which S3 keeps (and bills) until they are aborted."""
        aborted = 0
        for bucket, prefix in sorted({self._governed_prefix(root) for root in roots}):
            for upload in self._uploads(bucket, prefix):
                initiated = upload.get("Initiated")
                if initiated is None or initiated.timestamp() >= older_than:
                    continue
                if self._last_part_at(bucket, upload) >= older_than:
                    continue  # a long upload still sending parts
                try:
                    self.client.abort_multipart_upload(
                        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                    aborted += 1
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "NoSuchUpload":
                        raise
        return aborted

    @staticmethod
    def _governed_prefix(root: str) -> tuple[str, str]:
        bucket, prefix = split_s3_uri(root)
        return bucket, f"{prefix}/{RESERVED_DIR}/".lstrip("/")

    def _uploads(self, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=prefix)
        for page in pages:
            yield from page.get("Uploads", [])

    def _last_part_at(self, bucket: str, upload: dict[str, Any]) -> float:
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        latest = 0.0
        for page in pages:
            for part in page.get("Parts", []):
                if part.get("LastModified") is not None:
                    latest = max(latest, part["LastModified"].timestamp())
        return latest

    # ---- temporary credentials --------------------------------------------------------------

    def vend_credentials(self, location: str, write: bool,
                         ttl_seconds: int) -> TemporaryCredentials:
        """STS credentials limited by a session policy to this one location.

        With `MODELYARD_S3_ROLE_ARN` set, AssumeRole on that role; otherwise
        GetFederationToken with the server's own (IAM user) credentials. The STS endpoint comes
        from `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL`, like S3's.
        """
        bucket, prefix = self._split(location)
        policy = scoped_policy(bucket, prefix, write)
        duration = max(900, min(int(ttl_seconds), 43_200))
        # A store without STS should fail fast; whatever STS answers (S3-compatible stores
        # often have none: SeaweedFS answers 500), the client is told to use upload URLs.
        sts = client_for("sts", attempts=2, report_outages=False)
        role = os.environ.get("MODELYARD_S3_ROLE_ARN")
        try:
            if role:
                answer = sts.assume_role(RoleArn=role, RoleSessionName="modelyard",
                                         Policy=policy, DurationSeconds=min(duration, 3600))
            else:
                answer = sts.get_federation_token(Name="modelyard", Policy=policy,
                                                  DurationSeconds=duration)
        except (ClientError, BotoCoreError) as error:
            raise FailedPrecondition(
                "The storage service did not issue temporary credentials "
                f"(STS: {error}); upload through Modelyard's upload URLs instead.") from None
        credentials = answer["Credentials"]
        expiration = credentials.get("Expiration")
        expires_ms = (int(expiration.timestamp() * 1000) if expiration is not None
                      else now_ms() + duration * 1000)
        return TemporaryCredentials(
            url=location, expiration_time=expires_ms,
            aws_temp_credentials={"access_key_id": credentials["AccessKeyId"],
                                  "secret_access_key": credentials["SecretAccessKey"],
                                  "session_token": credentials.get("SessionToken", "")})


class _RangedObject(io.RawIOBase):
    """An S3 object read by ranges (S3ArtifactStore.open_seekable)."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.size = size
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        if self.position >= self.size or not len(buffer):
            return 0
        end = min(self.size, self.position + len(buffer)) - 1
        body = self.client.get_object(Bucket=self.bucket, Key=self.key,
                                      Range=f"bytes={self.position}-{end}")["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)


class _S3Staged:
    """An upload not yet visible: its multipart upload is uncompleted, or (below one part)
    its bytes wait in memory, at most PART_SIZE of them."""

    def __init__(self, store: S3ArtifactStore, bucket: str, key: str,
                 stored: StoredFile) -> None:
        self.stored = stored
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.small: bytes | None = None
        self._store, self._bucket, self._key = store, bucket, key

    def publish(self) -> None:
        client = self._store.client
        if self.upload_id is None:
            client.put_object(Bucket=self._bucket, Key=self._key, Body=self.small or b"")
        else:
            client.complete_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts})
            self.upload_id = None
        self.small = None

    def discard(self) -> None:
        self.small = None
        if self.upload_id is not None:
            self._store._abort(self._bucket, self._key, self.upload_id)
            self.upload_id = None
