"""Errors of the secure-aggregation protocol, each naming what failed and who is to blame."""

from __future__ import annotations

from consent.errors import ConsentError
from consent.ids import Address

__all__ = [
    "ForbiddenRevealError",
    "ForgedShareError",
    "MalformedMaskedUpdateError",
    "ReconstructionError",
    "RingOverflowError",
    "SecAggError",
    "SecAggParamsError",
    "TooFewSharesError",
]


class SecAggError(ConsentError):
    """Root of secure-aggregation errors."""


class SecAggParamsError(SecAggError, ValueError):
    """Ring parameters or a threshold that cannot work (e.g. `t` above the number of peers)."""


class RingOverflowError(SecAggError, ValueError):
    """The sum of the weighted, quantized updates could leave the signed range of the ring.

    Attributes:
        bound: the largest absolute value the sum may reach with these inputs.
        limit: the ring's signed limit, 2**(bits-1) - 1.
    """

    def __init__(self, bound: int, limit: int) -> None:
        super().__init__(
            f"the aggregate may reach {bound}, beyond the ring's signed limit {limit}: "
            "lower the scale or the clip, or use fewer/lighter updates"
        )
        self.bound = bound
        self.limit = limit


class MalformedMaskedUpdateError(SecAggError, ValueError):
    """A masked update that is not one: wrong magic, version, length or context.

    Attributes:
        hospital: who the update claims to come from (None when unreadable).
        reason: what is wrong.
    """

    def __init__(self, reason: str, *, hospital: Address | None = None) -> None:
        who = f" from {hospital}" if hospital else ""
        super().__init__(f"malformed masked update{who}: {reason}")
        self.hospital = hospital
        self.reason = reason


class TooFewSharesError(SecAggError, ValueError):
    """Fewer valid shares than the threshold: the secret cannot be rebuilt.

    Attributes:
        owner: whose secret was being rebuilt.
        have: how many valid shares there are.
        threshold: how many are needed.
    """

    def __init__(self, owner: Address, have: int, threshold: int) -> None:
        super().__init__(f"{have} valid share(s) of {owner}'s secret, {threshold} needed")
        self.owner = owner
        self.have = have
        self.threshold = threshold


class ForgedShareError(SecAggError, ValueError):
    """A revealed share that does not match the dealer's public commitment to it.

    Attributes:
        owner: whose secret the share is of (the dealer).
        holder: who revealed the forged share.
    """

    def __init__(self, owner: Address, holder: Address) -> None:
        super().__init__(f"{holder} revealed a share of {owner}'s secret that {owner} never dealt")
        self.owner = owner
        self.holder = holder


class ReconstructionError(SecAggError, ValueError):
    """Shares that all match their commitments combine to a secret that does not match the
    dealer's commitment to the secret: the dealer dealt shares of something else.

    Attributes:
        owner: the dealer to blame.
    """

    def __init__(self, owner: Address, reason: str) -> None:
        super().__init__(f"{owner}'s secret does not reconstruct: {reason}")
        self.owner = owner
        self.reason = reason


class ForbiddenRevealError(SecAggError, ValueError):
    """A reveal of a share the protocol forbids: a survivor's mask key or a dropped hospital's
    self seed (with both, the hospital's update would be exposed), or one for another holder.

    Attributes:
        owner: whose secret was revealed.
        holder: who revealed it.
        kind: which secret ("mask" or "self").
    """

    def __init__(self, owner: Address, holder: Address, kind: str) -> None:
        super().__init__(
            f"{holder} revealed a {kind!r} share of {owner}, which the protocol forbids"
        )
        self.owner = owner
        self.holder = holder
        self.kind = kind
