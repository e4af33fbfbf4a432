"""Kubo's file layout: chunk, hash and link bytes exactly as `ipfs add --cid-version=1` does.

Layout (go-unixfs `importer/balanced` with Kubo's defaults under `--cid-version=1`): fixed 256 KiB
chunks stored as raw leaves; a file of at most one chunk is that single raw leaf (the empty file
too); larger files get dag-pb/UnixFS `File` nodes of at most 174 links, built level by level so that
every subtree is full except the last one, which is what the balanced builder produces.

Reading walks a DAG from its root, checks every block against the SHA-256 in the CID that named it
and every node's sizes against its children, so a damaged or forged block is an error, never bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Final

from chain.store.cid import DAG_PB, RAW, ContentId
from chain.store.errors import CorruptArtifactError
from chain.store.unixfs import (
    NodeFormatError,
    PbLink,
    decode_file_data,
    decode_node,
    encode_file_node,
)

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "BlockSink",
    "BlockSource",
    "build_dag",
    "first_missing_block",
    "read_dag",
    "walk_blocks",
]

CHUNK_SIZE: Final = 256 * 1024
"""Kubo's default chunker, `size-262144`."""
MAX_LINKS: Final = 174
"""Kubo's balanced layout: at most this many links per node."""
_MAX_DEPTH: Final = 32

BlockSink = Callable[[ContentId, memoryview | bytes], None]
"""Receives every block of a DAG being built, leaves first; a leaf is a view into the input."""
BlockSource = Callable[[ContentId], bytes]
"""Returns a block's bytes or raises `ArtifactNotFoundError`; callers verify what it returns."""

_RAW_PREFIX: Final = ContentId(RAW, bytes(32)).binary[:-32]
_DAG_PB_PREFIX: Final = ContentId(DAG_PB, bytes(32)).binary[:-32]


def build_dag(data: bytes | bytearray | memoryview, sink: BlockSink | None = None) -> ContentId:
    """The root CID of `data` in Kubo's layout; every block goes to `sink` if one is given.

    Leaves are hashed through memoryview slices, so the data is never copied.
    """
    view = memoryview(data).cast("B")
    sha256 = hashlib.sha256
    # One entry per node of the current level: (binary CID, cumulative DAG size, file bytes).
    level: list[tuple[bytes, int, int]] = []
    for offset in range(0, max(len(view), 1), CHUNK_SIZE):
        chunk = view[offset : offset + CHUNK_SIZE]
        digest = sha256(chunk).digest()
        if sink is not None:
            sink(ContentId(RAW, digest), chunk)
        level.append((_RAW_PREFIX + digest, len(chunk), len(chunk)))
    while len(level) > 1:
        parents: list[tuple[bytes, int, int]] = []
        for start in range(0, len(level), MAX_LINKS):
            group = level[start : start + MAX_LINKS]
            block = encode_file_node(
                [PbLink(cid, "", tsize) for cid, tsize, _ in group],
                [filesize for _, _, filesize in group],
            )
            digest = sha256(block).digest()
            if sink is not None:
                sink(ContentId(DAG_PB, digest), block)
            parents.append(
                (
                    _DAG_PB_PREFIX + digest,
                    len(block) + sum(tsize for _, tsize, _ in group),
                    sum(filesize for _, _, filesize in group),
                )
            )
        level = parents
    return ContentId.from_binary(level[0][0])


def _verified(root: ContentId, cid: ContentId, fetch: BlockSource) -> bytes:
    block = fetch(cid)
    if hashlib.sha256(block).digest() != cid.digest:
        raise CorruptArtifactError(str(root), "block bytes do not match their CID", block=str(cid))
    return block


def _children(
    root: ContentId, cid: ContentId, block: bytes
) -> tuple[bytes, list[tuple[ContentId, int]], int]:
    """Inline data, (child CID, declared size) pairs and total size of a verified file node."""
    try:
        node = decode_node(block)
        if node.data is None:
            raise NodeFormatError("dag-pb node without UnixFS data")
        unixfs = decode_file_data(node.data)
        children = [ContentId.from_binary(link.cid) for link in node.links]
    except (NodeFormatError, ValueError) as exc:
        raise CorruptArtifactError(str(root), str(exc), block=str(cid)) from exc
    if len(unixfs.blocksizes) != len(children):
        raise CorruptArtifactError(str(root), "blocksizes do not match links", block=str(cid))
    total = len(unixfs.data) + sum(unixfs.blocksizes)
    if unixfs.filesize is not None and unixfs.filesize != total:
        raise CorruptArtifactError(str(root), "filesize does not match its parts", block=str(cid))
    return unixfs.data, list(zip(children, unixfs.blocksizes, strict=True)), total


def read_dag(root: ContentId, fetch: BlockSource) -> bytes:
    """The file bytes under `root`, every block verified; raises `CorruptArtifactError`."""
    parts: list[bytes] = []

    def visit(cid: ContentId, depth: int) -> int:
        if depth > _MAX_DEPTH:
            raise CorruptArtifactError(str(root), "DAG deeper than any real file", block=str(cid))
        block = _verified(root, cid, fetch)
        if cid.codec == RAW:
            parts.append(block)
            return len(block)
        inline, children, total = _children(root, cid, block)
        parts.append(inline)
        for child, declared in children:
            if visit(child, depth + 1) != declared:
                raise CorruptArtifactError(
                    str(root), "a child's size differs from its blocksize", block=str(child)
                )
        return total

    visit(root, 0)
    return b"".join(parts)


def walk_blocks(root: ContentId, fetch: BlockSource) -> Iterator[tuple[ContentId, bytes]]:
    """Every block of the DAG, verified, depth first from the root (the order of a CAR export)."""
    stack = [root]
    while stack:
        cid = stack.pop()
        block = _verified(root, cid, fetch)
        yield cid, block
        if cid.codec == DAG_PB:
            _, children, _ = _children(root, cid, block)
            stack.extend(child for child, _ in reversed(children))


def first_missing_block(
    root: ContentId, fetch: BlockSource, exists: Callable[[ContentId], bool]
) -> ContentId | None:
    """The first block of the DAG that is absent, or None when the DAG is complete.

    Reads (and verifies) the inner nodes only; leaves are checked for presence, not read.
    """
    stack = [root]
    while stack:
        cid = stack.pop()
        if not exists(cid):
            return cid
        if cid.codec == DAG_PB:
            _, children, _ = _children(root, cid, _verified(root, cid, fetch))
            stack.extend(child for child, _ in reversed(children))
    return None
