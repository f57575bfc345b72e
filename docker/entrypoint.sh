#!/bin/sh
# Entrypoint of the Modelyard image (Dockerfile). Commands:
#   serve [FLAGS]   the registry (the default): listens on every interface of the container, with
#                   --auth unless MODELYARD_AUTH=0 (then --insecure-no-auth must be given too)
#   healthcheck     exit 0 when GET /ready answers 200 (the image's HEALTHCHECK)
#   ensure-bucket   create the bucket of an s3:// MODELYARD_STORAGE_ROOT if it is missing
#                   (waits up to 60 s for the store), for compose's one-shot service
#   anything else   run as given (`modelyard audit verify`, `sh`)
# Settings come from MODELYARD_* variables (README, "Settings").
set -eu

: "${MODELYARD_DATA_DIR:=/data}"
: "${MODELYARD_HOST:=0.0.0.0}"
: "${MODELYARD_PORT:=8080}"
: "${MODELYARD_AUTH:=1}"
export MODELYARD_DATA_DIR MODELYARD_HOST MODELYARD_PORT MODELYARD_AUTH

command="${1:-serve}"
[ "$#" -gt 0 ] && shift

case "$command" in
serve)
    mkdir -p "$MODELYARD_DATA_DIR" 2>/dev/null || true
    if [ ! -d "$MODELYARD_DATA_DIR" ] || [ ! -w "$MODELYARD_DATA_DIR" ]; then
        echo "modelyard: the data directory $MODELYARD_DATA_DIR is not writable by user" \
             "$(id -u); give it to that user (chown $(id -u) on the volume) or mount another." >&2
        exit 1
    fi
    exec modelyard serve "$@"
    ;;
healthcheck)
    exec python - "$MODELYARD_PORT" <<'PY'
import sys
import urllib.error
import urllib.request

try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/ready", timeout=3) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except urllib.error.HTTPError as error:
    print(error.read().decode(errors="replace"), file=sys.stderr)
    sys.exit(1)
except OSError as error:
    print(f"not answering: {error}", file=sys.stderr)
    sys.exit(1)
PY
    ;;
ensure-bucket)
    exec python - <<'PY'
import os
import sys
import time

from modelyard.storage.s3 import client_for, split_s3_uri

root = os.environ.get("MODELYARD_STORAGE_ROOT", "")
if not root.startswith("s3://"):
    print(f"ensure-bucket: MODELYARD_STORAGE_ROOT={root!r} is not an s3:// URI", file=sys.stderr)
    sys.exit(2)
bucket, _ = split_s3_uri(root)
client = client_for("s3", attempts=1, timeout=5.0)
deadline = time.monotonic() + 60
while True:
    try:
        names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in names:
            client.create_bucket(Bucket=bucket)
            print(f"ensure-bucket: created {bucket}")
        else:
            print(f"ensure-bucket: {bucket} exists")
        sys.exit(0)
    except Exception as error:
        if time.monotonic() > deadline:
            print(f"ensure-bucket: {bucket}: {error}", file=sys.stderr)
            sys.exit(1)
        time.sleep(1)
PY
    ;;
*)
    exec "$command" "$@"
    ;;
esac
