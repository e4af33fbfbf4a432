"""Secure aggregation (privacy mode "secagg"): pairwise-masked updates whose sum anyone holding
the public transcript can recompute, and nobody can take apart.

Pure domain (no torch, no web3) so the trainer and aggregator roles (`fl/`) and the audit
(`chain/audit/`) run the same code. Modules: `ring` (fixed-point quantization into Z/2**64),
`prg` (X25519 + HKDF seeds, ChaCha20 expansion), `shares` (pycryptodome's Shamir, chunked,
sealed, committed), `masking` (mask / unmask), `protocol` (each party's steps).
"""

from consent.secagg.errors import (
    ForbiddenRevealError,
    ForgedShareError,
    MalformedMaskedUpdateError,
    ReconstructionError,
    RingOverflowError,
    SecAggError,
    SecAggParamsError,
    TooFewSharesError,
)
from consent.secagg.prg import RoundContext, StudyContext
from consent.secagg.protocol import (
    KeyDeal,
    MaskedUpdate,
    RecoveredSum,
    Reveal,
    RosterEntry,
    deal_mask_key,
    recover_sum,
    reveal,
    submit,
)
from consent.secagg.ring import RingParams, dequantize_mean, quantize

__all__ = [
    "ForbiddenRevealError",
    "ForgedShareError",
    "KeyDeal",
    "MalformedMaskedUpdateError",
    "MaskedUpdate",
    "ReconstructionError",
    "RecoveredSum",
    "Reveal",
    "RingOverflowError",
    "RingParams",
    "RosterEntry",
    "RoundContext",
    "SecAggError",
    "SecAggParamsError",
    "StudyContext",
    "TooFewSharesError",
    "deal_mask_key",
    "dequantize_mean",
    "quantize",
    "recover_sum",
    "reveal",
    "submit",
]
