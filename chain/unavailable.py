"""The one error for "a node `chain/` depends on is not answering": the chain or the IPFS node.

`ChainUnavailableError` (`chain.errors`) and `StoreUnavailableError` (`chain.store`) both derive
from `NodeUnavailableError`, a builtin `ConnectionError`: callers that only need to know "retry
later" (the HTTP API's 503, the CLI's one line, a role's retry) catch this one class, whichever
node is down. Transport failures are translated where `chain/` talks to the node (the web3
middleware in `chain.connection`, the IPFS client in `chain.store.ipfs`), never after the fact.
"""

from __future__ import annotations

__all__ = ["NodeUnavailableError"]


class NodeUnavailableError(ConnectionError):
    """A node (chain or IPFS) is down, unreachable or not answering in time; `url` names it."""

    def __init__(self, message: str, *, url: str, reason: str) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason
