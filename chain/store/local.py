"""The embedded artifact store: Kubo-compatible blocks in a directory, no daemon needed.

Layout under the store's root::

    blocks/<XY>/<multihash-base32>   one file per block, sharded on the next-to-last two characters
                                     (as Kubo's flatfs does); keyed by multihash, so CIDv0 and v1
                                     names of a block find the same file
    pins/<cid>                       an empty file per pinned root
    tmp/                             in-flight writes, moved into place with os.replace

A block file appears atomically and complete, or not at all. Blocks are immutable, so a block that
already exists is not rewritten. Every read is verified against its CID, so a damaged file becomes
a `CorruptArtifactError`, never wrong bytes.
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from chain.store.car import CarReader, write_car
from chain.store.cid import ContentId, parse_cid
from chain.store.dag import BlockSource, build_dag, first_missing_block, read_dag, walk_blocks
from chain.store.errors import ArtifactNotFoundError

__all__ = ["LocalStore"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4096)
def _block_key(multihash: bytes) -> str:
    """A block's file name: the unpadded base32 of its multihash (kept for recent blocks:
    `base64`'s base32 is pure Python, ~0.1 ms per block on every read and write)."""
    return base64.b32encode(multihash).decode("ascii").rstrip("=")


class LocalStore:
    """An on-disk block store that computes the same CIDs as Kubo and verifies every read."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        """Open (creating if needed) a store rooted at `path`.

        With `fsync=True` every block is flushed to disk before it is moved into place: slower, but
        a power loss then cannot leave a truncated block behind (reads would catch it anyway).
        """
        self.root = Path(path)
        self._fsync = fsync
        self._blocks = self.root / "blocks"
        self._pins = self.root / "pins"
        self._tmp = self.root / "tmp"
        self._shards: set[Path] = set()
        """Shard directories this object made or found (a metadata call saved per block: on
        this kind of machine a `mkdir` of an existing directory is not free under load)."""
        for directory in (self._blocks, self._pins, self._tmp):
            directory.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # --- blocks ------------------------------------------------------------------------------

    def _block_path(self, cid: ContentId) -> Path:
        key = _block_key(cid.multihash)
        return self._blocks / key[-3:-1] / key

    def _write_block(self, cid: ContentId, block: memoryview | bytes) -> None:
        path = self._block_path(cid)
        if path.exists():
            return
        shard = path.parent
        if shard not in self._shards:  # one mkdir per shard and store object, not per block
            shard.mkdir(exist_ok=True)
            self._shards.add(shard)
        fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix="block-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(block)
                if self._fsync:
                    out.flush()
                    os.fsync(out.fileno())
            try:
                os.replace(tmp, path)
            except FileNotFoundError:  # the shard directory was removed since it was made
                shard.mkdir(exist_ok=True)
                os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _fetch(self, root: ContentId) -> BlockSource:
        return functools.partial(self._read_block, root)

    # --- ArtifactStore -----------------------------------------------------------------------

    def put(self, data: bytes) -> str:
        """Store `data` as Kubo would lay it out, pin it and return its CID."""
        root = build_dag(data, self._write_block)
        self._pin_path(root).touch()
        logger.debug("stored %d bytes as %s", len(data), root)
        return str(root)

    def get(self, cid: str) -> bytes:
        """The bytes behind `cid`, every block checked against its hash."""
        root = parse_cid(cid)
        return read_dag(root, self._fetch(root))

    def pin(self, cid: str) -> None:
        """Record `cid` as pinned once every block under it is present."""
        root = parse_cid(cid)
        missing = first_missing_block(root, self._fetch(root), self._exists)
        if missing is not None:
            raise ArtifactNotFoundError(str(root), missing=str(missing), reason="block missing")
        self._pin_path(root).touch()

    def has(self, cid: str) -> bool:
        """Whether every block under `cid` is present (inner nodes are read, leaves checked)."""
        root = parse_cid(cid)
        return first_missing_block(root, self._fetch(root), self._exists) is None

    def pins(self) -> tuple[str, ...]:
        """The pinned roots, sorted."""
        return tuple(sorted(path.name for path in self._pins.iterdir()))

    # --- CAR ---------------------------------------------------------------------------------

    def export_car(self, cid: str, out: BinaryIO) -> int:
        """Write the DAG under `cid` as a CAR v1 (root first, depth first); returns its size."""
        root = parse_cid(cid)
        return write_car(out, [root], walk_blocks(root, self._fetch(root)))

    def import_car(self, stream: BinaryIO) -> tuple[str, ...]:
        """Store every (verified) block of a CAR v1 stream, pin its roots and return them.

        Raises `CarFormatError` for a malformed file, `CorruptArtifactError` for a block whose bytes
        do not match its CID (blocks before it stay stored: they are valid), and
        `ArtifactNotFoundError` if a root's DAG is incomplete after the import.
        """
        reader = CarReader(stream)
        count = 0
        for cid, block in reader.blocks():
            self._write_block(cid, block)
            count += 1
        roots = tuple(str(root) for root in reader.roots)
        for root in roots:
            self.pin(root)
        logger.debug("imported %d blocks under %d roots", count, len(roots))
        return roots

    # --- helpers -----------------------------------------------------------------------------

    def _exists(self, cid: ContentId) -> bool:
        return self._block_path(cid).is_file()

    def _pin_path(self, root: ContentId) -> Path:
        return self._pins / str(root)

    def _read_block(self, root: ContentId, cid: ContentId) -> bytes:
        try:
            return self._block_path(cid).read_bytes()
        except FileNotFoundError as exc:
            raise ArtifactNotFoundError(str(root), missing=str(cid)) from exc

    def block_paths(self, cid: str) -> list[Path]:
        """Files holding the blocks of `cid` (for maintenance and tests)."""
        root = parse_cid(cid)
        return [
            self._block_path(block_cid) for block_cid, _ in walk_blocks(root, self._fetch(root))
        ]
