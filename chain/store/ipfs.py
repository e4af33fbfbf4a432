"""The networked artifact store: a Kubo-compatible IPFS RPC API (Kubo, js-ipfs), ipfshttpclient.

Notes on the client (ipfshttpclient 0.7.0):
- `ipfshttpclient.connect()` refuses every daemon newer than 0.7 by its version check, so the
  `Client` is constructed directly.
- A node asked for a CID it lacks waits for the network, even offline (js-ipfs), so lookups carry a
  server-side deadline (the RPC API's `timeout` option, honoured by Kubo and js-ipfs) and every HTTP
  call a client-side timeout a little longer than that. A server deadline hit means "not found"; a
  client timeout means the node itself is not answering, which is `StoreUnavailableError`.
- js-ipfs answers CIDv1 in base58btc: every CID is normalized to base32 here.
- Everything read is verified by recomputing its CID locally, and `put` checks that the node's CID
  equals the locally computed one, so a misconfigured node cannot change an artifact's address.
"""

from __future__ import annotations

import io
import ipaddress
import logging
from collections.abc import Callable
from typing import Final, TypeVar
from urllib.parse import urlsplit

import ipfshttpclient
import ipfshttpclient.exceptions as ipfs_errors

from chain.store.cid import ContentId, parse_cid
from chain.store.dag import CHUNK_SIZE, build_dag
from chain.store.errors import (
    ArtifactNotFoundError,
    CorruptArtifactError,
    StoreError,
    StoreUnavailableError,
)

__all__ = ["IpfsStore", "to_multiaddr"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_GRACE: Final = 5.0
_NOT_FOUND_HINTS: Final = ("timed out", "deadline", "not found", "no link named", "not pinned")


def to_multiaddr(api_url: str) -> str:
    """The RPC API multiaddr for `http(s)://host:port` (a multiaddr is returned unchanged)."""
    if api_url.startswith("/"):
        return api_url
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an IPFS API URL: {api_url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 5001)
    try:
        ip = ipaddress.ip_address(parts.hostname)
        host = f"/ip{ip.version}/{ip}"
    except ValueError:
        host = f"/dns/{parts.hostname}"
    return f"{host}/tcp/{port}/{parts.scheme}"


def _seconds(value: float) -> str:
    return f"{max(1, round(value * 1000))}ms"


class IpfsStore:
    """An `ArtifactStore` backed by an IPFS node's RPC API."""

    def __init__(self, api_url: str, *, timeout: float = 60.0, lookup_timeout: float = 5.0) -> None:
        """Talk to the node at `api_url` (`http://127.0.0.1:5001` or `/ip4/.../tcp/5001/http`).

        `timeout` bounds any one transfer; `lookup_timeout` bounds finding out whether the node
        has a CID at all (how long a missing CID takes to be reported).
        """
        if timeout <= 0 or lookup_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.api_url = api_url
        self.multiaddr = to_multiaddr(api_url)
        self._timeout = timeout
        self._lookup_timeout = lookup_timeout
        try:
            self._client = ipfshttpclient.Client(self.multiaddr, timeout=timeout + _GRACE)
        except ipfs_errors.AddressError as exc:
            raise ValueError(f"not an IPFS API address: {api_url!r}") from exc

    def __repr__(self) -> str:
        return f"IpfsStore({self.api_url!r})"

    # --- ArtifactStore -----------------------------------------------------------------------

    def put(self, data: bytes) -> str:
        """Add and pin `data` with Kubo's CIDv1 parameters; returns the (locally checked) CID."""
        expected = build_dag(data)
        result = self._call(
            str(expected),
            lambda: self._client.add(
                io.BytesIO(data),
                cid_version=1,
                raw_leaves=True,
                chunker=f"size-{CHUNK_SIZE}",
                pin=True,
                timeout=self._timeout + _GRACE,
            ),
        )
        stored = parse_cid(str(result["Hash"]))
        if stored != expected:
            raise StoreError(f"the node stored {len(data)} bytes as {stored}, expected {expected}")
        logger.debug("added %d bytes as %s", len(data), expected)
        return str(expected)

    def get(self, cid: str) -> bytes:
        """The bytes behind `cid`, verified by recomputing their CID."""
        root = parse_cid(cid)
        if not self._has(root):
            raise ArtifactNotFoundError(
                str(root), reason=f"not found within {self._lookup_timeout:g} s"
            )
        data: bytes = self._call(
            str(root),
            lambda: self._client.cat(
                str(root),
                opts={"timeout": _seconds(self._timeout)},
                timeout=self._timeout + _GRACE,
            ),
        )
        if build_dag(data) != root:
            raise CorruptArtifactError(str(root), "the bytes served do not hash to this CID")
        return data

    def pin(self, cid: str) -> None:
        """Pin `cid` recursively; `ArtifactNotFoundError` if the node cannot get all of it."""
        root = parse_cid(cid)
        self._call(
            str(root),
            lambda: self._client.pin.add(
                str(root),
                opts={"timeout": _seconds(self._timeout)},
                timeout=self._timeout + _GRACE,
            ),
        )

    def has(self, cid: str) -> bool:
        """Whether the node can serve the root block of `cid` within the lookup deadline."""
        return self._has(parse_cid(cid))

    # --- beyond the protocol -----------------------------------------------------------------

    def version(self) -> str:
        """The node's version string; a cheap liveness probe for health checks."""
        result = self._call("", lambda: self._client.version(timeout=self._lookup_timeout))
        return str(result["Version"])

    def import_car(self, car: bytes) -> tuple[str, ...]:
        """Import a CAR v1 into the node (which pins its roots); returns the roots."""
        result = self._call(
            "",
            lambda: self._client.dag.imprt(io.BytesIO(car), timeout=self._timeout + _GRACE),
        )
        root = parse_cid(str(result["Root"]["Cid"]["/"]))
        return (str(root),)

    def export_car(self, cid: str) -> bytes:
        """The DAG under `cid` as a CAR v1 file, as the node writes it."""
        root = parse_cid(cid)
        if not self._has(root):
            raise ArtifactNotFoundError(str(root))
        data: bytes = self._call(
            str(root),
            lambda: self._client.dag.export(
                str(root),
                opts={"timeout": _seconds(self._timeout)},
                timeout=self._timeout + _GRACE,
            ),
        )
        return data

    # --- helpers -----------------------------------------------------------------------------

    def _has(self, root: ContentId) -> bool:
        try:
            self._call(
                str(root),
                lambda: self._client.block.stat(
                    str(root),
                    opts={"timeout": _seconds(self._lookup_timeout)},
                    timeout=self._lookup_timeout + _GRACE,
                ),
            )
        except ArtifactNotFoundError:
            return False
        return True

    def _call(self, cid: str, request: Callable[[], _T]) -> _T:
        """Run one RPC call, translating ipfshttpclient's errors into store errors."""
        try:
            return request()
        except ipfs_errors.ErrorResponse as exc:
            message = str(exc.args[1] if len(exc.args) > 1 else exc)
            if cid and any(hint in message.lower() for hint in _NOT_FOUND_HINTS):
                raise ArtifactNotFoundError(cid, reason=message) from exc
            raise StoreError(f"IPFS node at {self.api_url} refused the request: {message}") from exc
        except (ipfs_errors.ConnectionError, ipfs_errors.TimeoutError) as exc:
            raise StoreUnavailableError(self.api_url, type(exc).__name__) from exc
        except ipfs_errors.Error as exc:
            raise StoreUnavailableError(self.api_url, str(exc)) from exc
