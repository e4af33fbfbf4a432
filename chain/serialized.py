"""One lock around every request of a chain connection, for the in-process eth-tester chain.

py-evm (eth-tester's backend) keeps the chain state in plain Python objects with no locking, so
two threads sending or calling at once can corrupt it. `serialize_requests` puts a lock next to
the provider (innermost middleware): each request runs alone, everything around it (signing,
hashing, training) still overlaps. A JSON-RPC node serves concurrent requests itself and needs
none of this.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from web3.middleware.base import Web3Middleware

from chain.connection import Chain

if TYPE_CHECKING:
    from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

__all__ = ["serialize_requests"]

_NAME = "serialized_requests"


class _Serialized(Web3Middleware):
    """Each request under the lock of its connection (a subclass per connection carries it)."""

    lock: ClassVar[threading.RLock]

    def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
        lock = self.lock

        def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
            with lock:
                return make_request(method, params)

        return middleware


def serialize_requests(chain: Chain) -> None:
    """Make every request of `chain` hold one lock (idempotent)."""
    onion = chain.w3.middleware_onion
    if _NAME in onion:
        return
    kind = type("SerializedRequests", (_Serialized,), {"lock": threading.RLock()})
    onion.inject(kind, name=_NAME, layer=0)
