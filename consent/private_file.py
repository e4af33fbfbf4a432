"""Secrets and mapping files on disk: written through a temp file and a rename, at mode 0600.

Every key, keystore, keyring, relayer key, seal key and record-id map goes through
`write_private_file`, so the result is 0600 whatever existed before (a rename replaces the old
inode and its mode with the temp file's, which `mkstemp` creates 0600: issue 11, H9), and a
reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from consent.errors import KeyFileExistsError

__all__ = ["write_private_file"]


def write_private_file(
    path: Path, data: bytes, *, overwrite: bool = True, durable: bool = True
) -> None:
    """Write `data` to `path` atomically, mode 0600; without `overwrite` an existing file stays.

    `durable=False` skips the two fsyncs (~20 ms on this machine's disk): the rename is still
    atomic, but a power cut may bring back the previous content (for a write whose loss is
    harmless, like the relayer journal dropping entries it has seen mined)."""
    path = Path(path)
    if not overwrite and path.exists():
        raise KeyFileExistsError(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates the file 0600
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if overwrite:
            tmp.replace(path)
        else:
            try:
                os.link(tmp, path)  # atomic create-if-absent: fails if someone else won the race
            except FileExistsError as exc:
                raise KeyFileExistsError(path) from exc
    finally:
        tmp.unlink(missing_ok=True)
    if not durable:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
