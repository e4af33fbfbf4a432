"""The artifact store's exceptions: one root, builtin-compatible subclasses that carry fields."""

from __future__ import annotations

from chain.unavailable import NodeUnavailableError

__all__ = [
    "ArtifactNotFoundError",
    "CarFormatError",
    "CorruptArtifactError",
    "InvalidCidError",
    "StoreError",
    "StoreUnavailableError",
]


class StoreError(Exception):
    """Root of every error raised by `chain.store`."""


class InvalidCidError(StoreError, ValueError):
    """Not a CID, or a CID this store cannot verify (not SHA-256, unknown codec)."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"{value!r} is not a usable CID: {reason}")
        self.value = value
        self.reason = reason


class ArtifactNotFoundError(StoreError, KeyError):
    """The store lacks `cid` (or one of its blocks, `missing`), or cannot find it in time."""

    def __init__(self, cid: str, *, missing: str | None = None, reason: str = "not found") -> None:
        super().__init__(cid)
        self.cid = cid
        self.missing = missing if missing is not None else cid
        self.reason = reason

    def __str__(self) -> str:
        block = "" if self.missing == self.cid else f" (block {self.missing})"
        return f"artifact {self.cid}{block}: {self.reason}"


class CorruptArtifactError(StoreError, ValueError):
    """Bytes read for `cid` do not match it: a damaged block, a malformed node, a lying node."""

    def __init__(self, cid: str, reason: str, *, block: str | None = None) -> None:
        where = "" if block is None or block == cid else f" (block {block})"
        super().__init__(f"artifact {cid}{where} is corrupt: {reason}")
        self.cid = cid
        self.block = block if block is not None else cid
        self.reason = reason


class CarFormatError(StoreError, ValueError):
    """A CAR v1 stream that is malformed or unsupported; `offset` is where reading stopped."""

    def __init__(self, reason: str, *, offset: int) -> None:
        super().__init__(f"bad CAR file at byte {offset}: {reason}")
        self.reason = reason
        self.offset = offset


class StoreUnavailableError(StoreError, NodeUnavailableError):
    """The IPFS node at `url` is down, unreachable or not answering in time."""

    def __init__(self, url: str, reason: str) -> None:
        NodeUnavailableError.__init__(
            self, f"IPFS node at {url} is unavailable: {reason}", url=url, reason=reason
        )
