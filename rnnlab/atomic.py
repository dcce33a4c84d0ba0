"""Atomic, durable file writes (no torch here, so torch-free code can use them).

Readers of a file written here see the old content or the new, never a mix: the data goes to a
temporary file in the same folder, is flushed and fsynced, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError

PathLike = str | os.PathLike


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old content or the new, never a mix.

    Raises RnnlabError if the file cannot be written (missing directory, no permission, disk
    full); the previous file is then untouched and no temporary file is left behind.
    """
    path = Path(path)
    temp_path = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        # O_EXCL: never take over a file someone else made. Mode 0o666 lets the umask decide
        # permissions, as for any ordinary file (tempfile.mkstemp would force 0o600).
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(temp_path, flags, 0o666)
    except OSError as err:
        raise RnnlabError(f"cannot write {path}: {os_reason(err)}") from err
    try:
        _write_durably(fd, data)
        os.replace(temp_path, path)
    except BaseException as err:
        # BaseException too: a Ctrl-C between the write and the rename must not leave litter.
        _remove_if_present(temp_path)
        if isinstance(err, OSError):
            raise RnnlabError(f"cannot write {path}: {os_reason(err)}") from err
        raise
    _fsync_directory(path.parent)


def atomic_write_json(path: PathLike, obj: Any, *, indent: int | None = 2) -> None:
    """Write `obj` as strict JSON (no NaN or Infinity, which other readers reject), atomically."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def _write_durably(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        # Without fsync the rename can reach the disk before the data does; after a power cut
        # the target would then exist but be empty or short.
        os.fsync(file.fileno())


def _fsync_directory(directory: Path) -> None:
    # The rename lives in the directory entry, which POSIX only makes durable with an fsync of
    # the directory itself. Windows cannot open directories and does not need it.
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # Some file systems refuse; the replace itself was still atomic.
    finally:
        os.close(fd)


def _remove_if_present(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def os_reason(err: OSError) -> str:
    return err.strerror or str(err)


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write `text` as UTF-8 (with "\n" line ends, whatever the platform), atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
