"""Model scanning (issue 20, item 3): what loading a Unity Catalog version's files would run.

    svc = ScanService(units, artifacts, ScanMode.FLAG)
    result = svc.scan_files(location, [(path, size), ...])   # reads storage, no database
    svc.record(uow, version_id, "main.s.m", 3, result)        # stored on the version, audited
    svc.rescan(actor, "main.s.m", 3) / svc.get(actor, "main.s.m", 3)

The scanner is picklescan (chosen by measurement, bench/scanners.py and bench/RESULTS.md): its
opcode walk lists every import a pickle makes, its lists say which are dangerous; the grading
is Modelyard's (domain/scans.py), so that the cloudpickle code of MLflow's pyfunc models is a
MEDIUM finding and `posix.system` a CRITICAL one. What each file gets:

- pickles (by extension, or any file starting with a pickle protocol header), joblib files
  (also zlib/gzip/bz2/xz-compressed ones), legacy PyTorch files: the whole stream is walked;
- zip archives (PyTorch's `torch.save`, `.npz`, skops): only the members that hold a pickle
  or a numpy array, read through the archive's directory (random access on local storage);
- numpy `.npy`: the header, and the pickle behind it when the dtype holds objects;
- Keras: a `.keras` archive's config.json, an `.h5` file's model config, for Lambda layers;
- files that cannot hold code (JSON, YAML, text, safetensors, ONNX, images, MLmodel ...) and
  files that start like none of the above: not read at all;
- TensorFlow SavedModel graphs (`.pb`), 7z and tar archives: unchecked, so the version is
  NOT_SCANNED with the reason.

So finalize reads each file at most once more than it did before (the digest pass), and a
large weights file inside a zip (a PyTorch checkpoint) not at all; bench/scan.py measures it.
"""

from __future__ import annotations

import ast
import bz2
import gzip
import importlib.metadata
import io
import json
import logging
import lzma
import os
import pickle
import pickletools
import zipfile
import zlib
from collections.abc import Callable, Iterable
from typing import IO, Any, cast

import orjson
from sqlalchemy import Row

from modelyard.domain.catalog import VersionStatus, full_model_name
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import FailedPrecondition, ModelyardError
from modelyard.domain.names import parse_version
from modelyard.domain.scans import (
    NEVER_SCANNED,
    Finding,
    ScanMode,
    ScanReport,
    ScanResult,
    ScanStatus,
    Severity,
    grade_import,
    import_message,
)
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from modelyard.storage.base import ArtifactStore
from modelyard.store.scans import save_scan, scan_columns

log = logging.getLogger("modelyard.scan")
# picklescan logs every dangerous import at WARNING; the findings say it, once, in our words.
logging.getLogger("picklescan").setLevel(logging.CRITICAL)

SCANNER = f"picklescan {importlib.metadata.version('picklescan')}"

_PICKLE_EXT = {".pkl", ".pickle", ".joblib", ".dat", ".data", ".dill", ".cloudpickle"}
_TORCH_EXT = {".bin", ".pt", ".pth", ".ckpt"}
_DATA_EXT = {".json", ".yaml", ".yml", ".txt", ".md", ".csv", ".tsv", ".parquet",
             ".safetensors", ".onnx", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".html",
             ".sig", ".pem", ".crt", ".proto", ".xml", ".toml", ".cfg", ".ini"}
_UNSUPPORTED = {".pb": "a TensorFlow graph (SavedModel); the scanner does not read them",
                ".7z": "a 7z archive; the scanner does not open them",
                ".tar": "a tar archive; the scanner does not open them",
                ".tgz": "a tar archive; the scanner does not open them",
                ".mar": "a TorchServe archive; the scanner does not open them"}
_PICKLE_MAGIC = tuple(b"\x80" + bytes([n]) for n in range(2, 6))
_ZIP_MAGIC = b"PK\x03\x04"
_NUMPY_MAGIC = b"\x93NUMPY"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_LAMBDA = (b'"class_name": "Lambda"', b'"class_name":"Lambda"')


class ModelRejected(FailedPrecondition):
    """An UNSAFE version refused at finalize under `--scan-mode reject`."""


class ScanService:
    def __init__(self, units: UnitOfWorkFactory, artifacts: ArtifactStore,
                 mode: ScanMode = ScanMode.FLAG) -> None:
        self.units = units
        self.artifacts = artifacts
        self.mode = mode

    # ---- at finalize (services/uc_models.py) -------------------------------------------------

    def rejects(self, result: ScanResult) -> bool:
        return self.mode is ScanMode.REJECT and result.status is ScanStatus.UNSAFE

    def record(self, uow: UnitOfWork, version_id: int, full_name: str, version: int,
               result: ScanResult) -> None:
        """Store the result on the version and put it in the audit trail (the caller's unit of
        work: at finalize, the one that makes the version READY)."""
        save_scan(uow.conn, version_id, result.status.value,
                  orjson.dumps(result.as_dict()).decode())
        uow.record("model_version.scan", "model_version", f"{full_name}/{version}",
                   after=result.summary())

    # ---- on demand -------------------------------------------------------------------------

    def get(self, actor: Actor, full_name: str, version: int | str) -> ScanResult:
        """The stored result; reading it needs what reading the version needs."""
        full_name = full_model_name(full_name)
        number = parse_version(version)
        with self.units.read(actor) as uow:
            authorization.require_uc(uow.conn, actor, "model.execute", full_name)
            row = uow.uc_models.version_row(full_name, number)
            return stored_result(scan_columns(uow.conn, row.id))

    def rescan(self, actor: Actor, full_name: str, version: int | str) -> ScanResult:
        """Scan a READY version's files again (a newer scanner, a changed grading) and store
        the result. Needs MANAGE on the model. A version already READY stays READY whatever
        the mode: the result is what changes."""
        full_name = full_model_name(full_name)
        number = parse_version(version)
        with self.units.read(actor) as uow:
            authorization.require_uc(uow.conn, actor, "model.manage", full_name)
            row = uow.uc_models.version_row(full_name, number)
            _require_ready(full_name, number, row)
            files = [(f.path, f.size) for f in uow.uc_models.files(row.id)]
        result = self.scan_files(row.storage_location, files)
        with self.units.write(actor, scope="uc") as uow:
            current = uow.uc_models.version_row(full_name, number, for_update=True)
            if current.id != row.id:  # deleted and made again meanwhile
                raise FailedPrecondition(f"Model version {full_name}/{number} changed during "
                                         "the scan; scan it again.")
            self.record(uow, current.id, full_name, number, result)
        return result

    # ---- the scan itself: storage only, no database -----------------------------------------

    def scan_files(self, location: str, files: Iterable[tuple[str, int]]) -> ScanResult:
        """Scan the files (path, size) stored at `location`."""
        report = ScanReport()
        for path, _size in files:
            try:
                scan_file(self.artifacts, location, path, report)
            except ModelyardError as error:
                report.unchecked.append((path, f"could not be read: {error.message}"))
            except Exception as error:  # a scanner bug or a file it chokes on: say so
                log.warning("model scan of %s in %s failed: %s: %s", path, location,
                            type(error).__name__, error)
                report.unchecked.append((path, f"scanner error ({type(error).__name__}: "
                                               f"{str(error)[:200]})"))
        return report.result(SCANNER, now_ms())


def stored_result(columns: Row[Any] | None) -> ScanResult:
    """The ScanResult kept on a version (scan_status, scan_report), or NEVER_SCANNED."""
    if columns is None or not columns.scan_status:
        return NEVER_SCANNED
    try:
        return ScanResult.from_dict(orjson.loads(columns.scan_report or "{}"))
    except (ValueError, KeyError, TypeError):
        return ScanResult(ScanStatus(columns.scan_status))


def _require_ready(full_name: str, number: int, row: Row[Any]) -> None:
    if row.status != VersionStatus.READY.value or not row.storage_location:
        raise FailedPrecondition(
            f"Model version {full_name}/{number} is {row.status}: only a READY version with "
            "files can be scanned (a version is scanned when it is finalized).")


# ---- one file ---------------------------------------------------------------------------------

def scan_file(store: ArtifactStore, location: str, path: str, report: ScanReport) -> None:
    name = path.rsplit("/", 1)[-1]
    ext = os.path.splitext(name)[1].lower()
    if ext == ".py":
        # MLflow's models from code (and code_paths): the source runs when the model loads,
        # by design and in plain sight; said, not judged.
        report.add(Finding(Severity.MEDIUM, path, "Python source",
                           "Python code saved with the model (MLflow models from code or "
                           "code_paths): it runs when the model is loaded; review it."))
        return
    if name == "MLmodel" or ext in _DATA_EXT:
        return
    if ext in _UNSUPPORTED:
        report.unchecked.append((path, _UNSUPPORTED[ext]))
        return
    with _open(store, location, path) as raw:
        size = raw.seek(0, os.SEEK_END)
        raw.seek(0)
        counting = _Counting(raw)
        try:
            _scan_handle(cast(IO[bytes], counting), path, ext, report, size)
        finally:
            report.bytes_read += counting.count


def _scan_handle(handle: IO[bytes], path: str, ext: str, report: ScanReport,
                 size: int) -> None:
    magic = handle.read(8)
    handle.seek(0)
    if magic.startswith(_HDF5_MAGIC):
        report.files_scanned += 1
        _scan_h5(handle, path, report)
    elif magic.startswith(_ZIP_MAGIC):
        report.files_scanned += 1
        if ext == ".keras":
            _scan_keras(handle, path, report)
        _scan_zip(handle, path, report)
    elif magic.startswith(_NUMPY_MAGIC):
        report.files_scanned += 1
        _add_numpy(report, path, handle, size)
    elif magic.startswith(_PICKLE_MAGIC) or ext in _PICKLE_EXT or ext in _TORCH_EXT:
        report.files_scanned += 1
        decompressed = _joblib_decompressor(magic, handle) if ext in _PICKLE_EXT else None
        stream = decompressed or handle
        with stream:
            if ext == ".joblib":
                _add_joblib(report, path, stream, size)
            else:
                _add_pickle(report, path, stream, size)
    # Anything else starts like no format that runs code when loaded: not read further.


def _scan_zip(handle: IO[bytes], path: str, report: ScanReport) -> None:
    """The members of a zip (PyTorch's torch.save, .npz, skops) that hold a pickle or a numpy
    array, read through the archive's directory; the others (tensor storages) are not read."""
    with zipfile.ZipFile(handle) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            member = f"{path}:{info.filename}"
            with archive.open(info) as opened:
                magic = opened.read(8)
            ext = os.path.splitext(info.filename)[1].lower()
            if magic.startswith(_NUMPY_MAGIC):
                with archive.open(info) as opened:
                    _add_numpy(report, member, cast(IO[bytes], opened), info.file_size)
            elif magic.startswith(_PICKLE_MAGIC) or ext in _PICKLE_EXT:
                with archive.open(info) as opened:
                    _add_pickle(report, member, cast(IO[bytes], opened), info.file_size)


#: Pickle opcodes walked per file: this many, and one more per 512 bytes of pickle. Walking
#: costs ~1 µs of CPU per opcode; models (arrays, estimators, a state dict) have few opcodes
#: per byte, a pickle of millions of small Python objects ~200,000 a MiB. Past the budget the
#: file is NOT_SCANNED ("too large to scan") rather than finalize taking minutes: at most ~4 s
#: of CPU for a 1 GiB pickle (bench/scan.py, bench/RESULTS.md).
OPCODE_BUDGET = 2_000_000
OPCODES_PER_BYTE = 1 / 512


class TooManyOpcodes(Exception):
    def __init__(self, walked: int) -> None:
        super().__init__(walked)
        self.walked = walked


def _add_pickle(report: ScanReport, path: str, stream: IO[bytes], size: int) -> None:
    """The imports of every pickle in the stream, graded by picklescan's lists."""
    from picklescan import scanner as picklescan

    seen: set[tuple[str, str]] = set()
    budget = OPCODE_BUDGET + int(size * OPCODES_PER_BYTE)
    try:
        pickle_imports(stream, seen, budget)
    except TooManyOpcodes as stopped:
        report.unchecked.append((path, f"too large to scan: more than {stopped.walked:,} pickle "
                                       "opcodes (a pickle of very many small objects)"))
    _add(report, path, picklescan._build_scan_result_from_raw_globals(seen, path), "")


_MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}
_STRINGS = {"SHORT_BINUNICODE", "UNICODE", "BINUNICODE", "BINUNICODE8", "STRING", "BINSTRING",
            "SHORT_BINSTRING"}


def pickle_imports(stream: IO[bytes], seen: set[tuple[str, str]],
                   budget: int = OPCODE_BUDGET) -> None:
    """Every (module, name) the pickles in `stream` import, opcode by opcode as they stream
    by: picklescan's walk (GLOBAL, INST, STACK_GLOBAL with its two strings found through the
    memo; anything but a string there is an 'unknown', dangerous, import), without holding every
    opcode in memory as picklescan does (1.3 GiB for a 64 MiB pickle, bench/RESULTS.md). A
    file that stops being a pickle ends the walk: pickle.load would stop there too. Adds what it
    finds to `seen`; raises TooManyOpcodes past `budget` opcodes."""
    memo: dict[int, str] = {}
    walked = 0
    while True:
        recent: list[str] = []  # the values of the last opcodes that push one, for STACK_GLOBAL
        previous: Any = None
        try:
            for opcode, arg, _ in pickletools.genops(stream):
                walked += 1
                if walked > budget:
                    raise TooManyOpcodes(budget)
                name = opcode.name
                if name == "MEMOIZE":
                    if isinstance(previous, str):
                        memo[len(memo)] = previous
                    else:
                        memo[len(memo)] = "\0"  # not a string: 'unknown' if used as a name
                    continue
                if name in _MEMO_PUT:
                    if isinstance(previous, str):
                        memo[int(cast(int, arg))] = previous
                    else:
                        memo.pop(int(cast(int, arg)), None)
                    continue
                if name in ("GLOBAL", "INST"):
                    module, _, attribute = str(arg).partition(" ")
                    seen.add((module, attribute))
                    value = "unknown"
                elif name == "STACK_GLOBAL":
                    module, attribute = (recent[-2:] if len(recent) >= 2 else
                                         ["unknown", "unknown"])
                    seen.add((module, attribute))
                    value = "unknown"
                elif name in _MEMO_GET:
                    found = memo.get(int(cast(int, arg)), "unknown")
                    value = "unknown" if found == "\0" else found
                elif name in _STRINGS and isinstance(arg, str | bytes):
                    value = arg if isinstance(arg, str) else arg.decode("latin-1")
                else:
                    value = "unknown"
                recent.append(value)
                del recent[:-2]
                previous = arg
        except TooManyOpcodes:
            raise
        except Exception:  # not (or no longer) a pickle: loading stops here too
            return
        following = stream.read(1)
        if not following:
            return
        stream.seek(-1, 1)


def _add_numpy(report: ScanReport, path: str, stream: IO[bytes], size: int) -> None:
    """A numpy array file: only an array of objects holds a pickle (after the header)."""
    magic = stream.read(8)
    length = stream.read(2 if magic[6] == 1 else 4)
    header = stream.read(int.from_bytes(length, "little"))
    try:
        fields = ast.literal_eval(header.decode("latin-1"))
        descr = str(fields.get("descr", "")) if isinstance(fields, dict) else "O"
    except (ValueError, SyntaxError):
        descr = "O"  # an unreadable header: check what follows as numpy would load it
    if "O" in descr:
        _add_pickle(report, path, stream, size)


def _add(report: ScanReport, path: str, result: Any, ext: str) -> None:
    """picklescan's result as graded findings."""
    for found in result.globals:
        says = found.safety.value
        if says == "innocuous":
            continue
        severity = grade_import(found.module, found.name, says)
        call = f"{found.module}.{found.name}"
        report.add(Finding(severity, path, call, import_message(call, severity)))


def _add_joblib(report: ScanReport, path: str, stream: IO[bytes], size: int) -> None:
    """A joblib file: its pickle with numpy arrays' raw bytes inline, which stop picklescan's
    walk at the first array. Read as joblib reads it, with a pickle machine whose every import
    is a stand-in (nothing is imported, nothing called), skipping each array's bytes; the
    imports it saw are graded by picklescan's lists."""
    from picklescan import scanner as picklescan

    seen: set[tuple[str, str]] = set()
    try:
        _StandInUnpickler(stream, seen, OPCODE_BUDGET + int(size * OPCODES_PER_BYTE)).load()
    except TooManyOpcodes as stopped:
        report.unchecked.append((path, f"too large to scan: more than {stopped.walked:,} pickle "
                                       "opcodes (a pickle of very many small objects)"))
    except Exception as error:
        # joblib.load stops where this does; what came before is what loading would run.
        if not seen:
            report.unchecked.append((path, f"not a joblib file the scanner can read "
                                           f"({type(error).__name__})"))
    _add(report, path, picklescan._build_scan_result_from_raw_globals(seen, path), "")


class _StandIn:
    """What a global of a scanned pickle becomes: remembers its arguments and state."""

    module = ""
    name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _counted(step: Callable[[Any], None]) -> Callable[[Any], None]:
    """An opcode of _StandInUnpickler, counted against its budget."""
    def run(unpickler: Any) -> None:
        unpickler.walked += 1
        if unpickler.walked > unpickler.budget:
            raise TooManyOpcodes(unpickler.budget)
        step(unpickler)
    return run


class _StandInUnpickler(pickle._Unpickler):
    """pickle's pure-Python machine, imports replaced by _StandIn classes; BUILD of joblib's
    NumpyArrayWrapper skips the array bytes that follow it, as joblib's own unpickler reads
    them (joblib/numpy_pickle.py, NumpyArrayWrapper.read_array)."""

    dispatch = {code: _counted(step) for code, step in pickle._Unpickler.dispatch.items()}

    def __init__(self, stream: IO[bytes], seen: set[tuple[str, str]], budget: int) -> None:
        super().__init__(stream)
        self.stream = stream
        self.seen = seen
        self.budget = budget
        self.walked = 0

    def find_class(self, module: str, name: str) -> type:
        self.seen.add((module, name))
        return type(name, (_StandIn,), {"module": module, "name": name})

    def load_build(self) -> None:
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        built = cast(Any, self).stack[-1]
        if isinstance(built, _StandIn) and built.module == "joblib.numpy_pickle" and \
                built.name == "NumpyArrayWrapper" and isinstance(built.state, dict):
            self._skip_array(built.state)

    dispatch[pickle.BUILD[0]] = _counted(load_build)

    def _skip_array(self, state: dict[str, Any]) -> None:
        dtype = state.get("dtype")
        code = str(dtype.args[0]) if isinstance(dtype, _StandIn) and dtype.args else ""
        if "O" in code:  # an array of objects: a pickle of its own follows, read it too
            _StandInUnpickler(self.stream, self.seen, self.budget).load()
            return
        count = 1
        for n in state.get("shape") or ():
            count *= int(n)
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self.stream.read(1)
            if padding:
                self.stream.read(padding[0])
        remaining = count * _itemsize(code)
        while remaining > 0:
            chunk = self.stream.read(min(remaining, 4 << 20))
            if not chunk:
                raise EOFError("the array ends early")
            remaining -= len(chunk)


def _itemsize(code: str) -> int:
    """Bytes per item of a numpy dtype string ('<f8', 'i4', 'U10', '?', 'b1')."""
    kind = code.lstrip("<>|=")
    if kind in ("?", "b"):
        return 1
    digits = "".join(c for c in kind if c.isdigit())
    letters = kind[:len(kind) - len(digits)] if digits and kind.endswith(digits) else kind
    if not digits:
        raise ValueError(f"an array of dtype {code!r}")
    size = int(digits)
    return size * 4 if letters == "U" else size


def _scan_keras(handle: IO[bytes], path: str, report: ScanReport) -> None:
    with zipfile.ZipFile(handle) as archive:
        if "config.json" not in archive.namelist():
            return
        config = json.loads(archive.read("config.json"))
    for layer in _lambda_layers(config):
        function = layer.get("config", {}).get("function")
        carries_code = isinstance(function, list) or (
            isinstance(function, dict) and "code" in function.get("config", {}))
        severity = Severity.HIGH if carries_code else Severity.MEDIUM
        report.add(Finding(severity, f"{path}:config.json", "Keras.Lambda",
                           "A Keras Lambda layer: its Python function runs when the model is "
                           "loaded" + (" (its bytecode is stored in the file)."
                                       if carries_code else ".")))


def _lambda_layers(node: Any) -> Iterable[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("class_name") == "Lambda":
            yield node
        for value in node.values():
            yield from _lambda_layers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _lambda_layers(value)


def _scan_h5(handle: IO[bytes], path: str, report: ScanReport) -> None:
    """A Keras HDF5 file keeps its model config, JSON, in an attribute: a Lambda layer's
    function is marshaled bytecode that legacy Keras runs at load."""
    tail = b""
    while chunk := handle.read(4 << 20):
        window = tail + chunk
        if any(pattern in window for pattern in _LAMBDA):
            report.add(Finding(Severity.HIGH, path, "Keras.Lambda",
                               "A Keras Lambda layer in an HDF5 model: its Python bytecode "
                               "runs when the model is loaded."))
            return
        tail = window[-32:]


def _joblib_decompressor(magic: bytes, handle: IO[bytes]) -> IO[bytes] | None:
    """A readable, seekable stream of a compressed joblib file's pickle, or None."""
    if magic.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=handle, mode="rb"))
    if magic.startswith(b"BZh"):
        return cast(IO[bytes], bz2.BZ2File(handle, mode="rb"))
    if magic.startswith((b"\xfd7zXZ", b"\x5d\x00\x00")):
        return cast(IO[bytes], lzma.LZMAFile(handle, mode="rb"))
    if magic[:1] == b"\x78" and (magic[0] * 256 + magic[1]) % 31 == 0:
        return io.BufferedReader(_ZlibRaw(handle), buffer_size=1 << 20)
    return None


class _ZlibRaw(io.RawIOBase):
    """A zlib stream (joblib's default compression) decompressed as it is read."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.inflate = zlib.decompressobj()
        self.pending = b""
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            chunk = self.source.read(1 << 20)
            if not chunk:
                self.pending = self.inflate.flush()
                if not self.pending:
                    return 0
                break
            self.pending = self.inflate.decompress(chunk)
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        self.position += size
        return size

    def tell(self) -> int:
        return self.position


class _Counting(io.RawIOBase):
    """A file opened for the scan, counting the bytes read from it (bench/scan.py)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self.inner.read(-1 if size is None else size)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        data = self.inner.readline(-1 if size is None else size)
        self.count += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()


def _open(store: ArtifactStore, location: str, path: str) -> IO[bytes]:
    """The file for random access: local storage opens it, S3 reads it by ranges."""
    return store.open_seekable(location, path)
