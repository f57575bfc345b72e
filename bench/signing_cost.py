"""What verifying a model signature adds to finalize (issue 20 item 4), in process.

A model directory of `--size-mib` MiB in `--files` files (plus an MLmodel) is signed with an EC
P-256 key through the OpenSSF `model_signing` library, as a user signs it, and laid in a local
artifact store. Then, as finalize does: `digest_files` (the one read of every file finalize
always makes) and `ModelSigningService.verify_files` (model.sig checked against those digests),
each timed; the first verification also imports the library. For comparison, the library's own
`verifying.Config().verify` on the directory, which hashes every file again.

    python bench/signing_cost.py --size-mib 1024 --files 8
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from modelyard.services.model_signing import ModelSigningService, TrustedSigners
    from modelyard.storage.local import LocalArtifactStore
    from tests.support.model_signing import key_pair, sign_with_key

    work = Path(tempfile.mkdtemp(prefix="bench-signing-"))
    try:
        keys = key_pair(work / "keys", "release")
        store = LocalArtifactStore(str(work / "artifacts"))
        location = store.location_for("m", "versions", "1")
        directory = Path(location.removeprefix("file://"))
        (directory / "data").mkdir(parents=True)
        (directory / "MLmodel").write_text("flavors: {}\n")
        chunk = os.urandom(1024 * 1024)
        per_file = max(1, args.size_mib // args.files)
        for i in range(args.files):
            with open(directory / "data" / f"shard-{i}.bin", "wb") as out:
                for _ in range(per_file):
                    out.write(chunk)
        start = time.perf_counter()
        sign_with_key(directory, keys)
        sign_s = time.perf_counter() - start

        service = ModelSigningService(None, store,  # type: ignore[arg-type]
                                      TrustedSigners.load(str(keys.public)))
        digests, verifies = [], []
        first_verify = 0.0
        for round_ in range(args.repeat):
            start = time.perf_counter()
            stored = store.digest_files(location)
            digests.append(time.perf_counter() - start)
            start = time.perf_counter()
            verdict = service.verify_files(location, stored)
            elapsed = time.perf_counter() - start
            assert verdict.signed, verdict
            if round_ == 0:
                first_verify = elapsed
            else:
                verifies.append(elapsed)

        from model_signing import verifying

        start = time.perf_counter()
        # (Signed through the Python API, the manifest does not name model.sig as ignored.)
        verifying.Config().use_elliptic_key_verifier(public_key=keys.public) \
            .set_ignore_unsigned_files(True).verify(directory, directory / "model.sig")
        library_s = time.perf_counter() - start

        total = sum(f.size for f in stored)
        print(f"model: {total / 2**20:.0f} MiB in {len(stored)} files (signature included)")
        print(f"sign (user side, model_signing sign key): {sign_s:.2f} s")
        print(f"finalize's digest_files (every file read once): median "
              f"{statistics.median(digests):.3f} s over {len(digests)} runs "
              f"({total / 2**20 / statistics.median(digests):.0f} MiB/s)")
        print(f"verify_files, first in this process: {first_verify * 1000:.0f} ms")
        print(f"importing the library's verifiers in a fresh process (paid once, on the first "
              f"model.sig to check): {_import_seconds() * 1000:.0f} ms")
        print(f"verify_files, warm: median {statistics.median(verifies) * 1000:.2f} ms "
              f"over {len(verifies)} runs")
        print(f"model_signing's own verify (hashes every file again): {library_s:.3f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _import_seconds() -> float:
    code = ("import time; t = time.perf_counter(); "
            "from model_signing._signing import sign_certificate, sign_ec_key, sign_sigstore_pb; "
            "print(time.perf_counter() - t)")
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(3)]
    return statistics.median(runs)


if __name__ == "__main__":
    main()
