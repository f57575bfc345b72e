"""The relative path of a file inside a model version: what every storage backend can hold.

Checked before an upload URL is issued and again when the file arrives, so that a name the
storage cannot take is refused with a 400 up front instead of failing mid-upload. Each backend
adds its own limit on the whole path with the location in front (storage/local.py: PATH_MAX;
storage/s3.py: S3's 1,024-byte keys).
"""

from __future__ import annotations

import re

from modelyard.domain.errors import InvalidArgument

#: NAME_MAX of the common filesystems (ext4, XFS, APFS, NTFS: 255 bytes or UTF-16 units).
MAX_NAME_BYTES = 255
#: PATH_MAX on Linux; the backends' limits with the location in front are lower.
MAX_PATH_BYTES = 4_096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def shown(path: str, limit: int = 80) -> str:
    """The path as an error message quotes it: control characters escaped, long ones cut."""
    text = path.encode("unicode_escape").decode("ascii") if _CONTROL.search(path) else path
    return text if len(text) <= limit else text[:limit] + "…"


def validate_file_path(path: str) -> str:
    """`path` ('/'-separated, relative) if a version may hold a file under it."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidArgument(f"Invalid file path '{shown(path)}' inside a model version: "
                              "use a relative path without empty, '.' or '..' parts.")
    if _CONTROL.search(path):
        raise InvalidArgument(f"Invalid file path '{shown(path)}': file names may not contain "
                              "control characters (such as NUL or a line break).")
    try:
        encoded = [part.encode() for part in parts]
    except UnicodeEncodeError:  # a lone surrogate, from a percent-decoded URL
        raise InvalidArgument(f"Invalid file path '{shown(path)}': it is not valid "
                              "UTF-8.") from None
    if any(len(part) > MAX_NAME_BYTES for part in encoded):
        raise InvalidArgument(f"Invalid file path '{shown(path)}': a file or directory name "
                              f"may be at most {MAX_NAME_BYTES} bytes long (UTF-8).")
    if sum(map(len, encoded)) + len(encoded) - 1 > MAX_PATH_BYTES:
        raise InvalidArgument(f"Invalid file path '{shown(path)}': a path may be at most "
                              f"{MAX_PATH_BYTES} bytes long (UTF-8).")
    return path


def too_long(path: str, size: int, limit: int) -> InvalidArgument:
    """A backend's refusal of a path that is too long with its location in front."""
    return InvalidArgument(f"Invalid file path '{shown(path)}': it is too long for the storage "
                           f"({size} bytes with the version's location in front, at most "
                           f"{limit}); use a shorter path.")
