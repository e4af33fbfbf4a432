"""Turn "the node is not answering" into `ChainConnectionError`, wherever web3 raises it.

The facades translate reverts into typed errors but let transport failures through as whatever the
provider raises (`requests.ConnectionError`, a timeout: all `OSError`s) or as web3's own
`Web3Exception`. Callers that must tell "the chain is down" from "the input is bad" (the HTTP API:
503 versus 4xx) wrap their chain work in `reachable(chain)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception

from chain.connection import Chain
from chain.errors import ChainConnectionError, ChainError, TransactionRevertedError

__all__ = ["ChainRequestError", "is_transport_failure", "reachable"]


class ChainRequestError(ChainError, RuntimeError):
    """The node answered, but with an error that is neither a revert nor a transport failure."""


def is_transport_failure(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) says the node could not be reached in time."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # Some chain errors are also builtin OSErrors (PermissionError): they are answers, not
        # transport failures.
        if isinstance(current, OSError | TimeExhausted) and not isinstance(current, ChainError):
            return True
        current = current.__cause__
    return False


@contextmanager
def reachable(chain: Chain) -> Iterator[None]:
    """Re-raise transport failures inside the block as `ChainConnectionError`.

    Reverts (`ContractRevertError`, `ContractLogicError`) and other chain errors pass unchanged; any
    other web3 error becomes `ChainRequestError`.
    """
    try:
        yield
    except ChainConnectionError:
        raise
    except ContractLogicError:
        raise
    except TransactionRevertedError as exc:
        if is_transport_failure(exc):
            raise ChainConnectionError(chain.rpc, str(exc)) from exc
        raise
    except ChainError:
        raise
    except (OSError, TimeExhausted) as exc:
        raise ChainConnectionError(chain.rpc, str(exc) or type(exc).__name__) from exc
    except Web3Exception as exc:
        raise ChainRequestError(f"{chain.rpc}: {exc}") from exc
