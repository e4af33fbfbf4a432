"""Consent scopes: the research purposes a consent covers, as GA4GH Data Use Ontology (DUO) codes.

A patient's consent lists the purposes it permits (a `ConsentScope`); a study declares the one
purpose it serves (a `StudyPurpose`). DUO's hierarchy decides coverage:

- `GRU` (general research use, DUO:0000042) covers every purpose;
- `HMB` (health/medical/biomedical research, DUO:0000006) covers `HMB` and every `DS-<disease>`;
- `DS-<disease>` (disease-specific research, DUO:0000007) covers that disease only;
- `NMDS` (no general methods research, DUO:0000015) is a modifier on a consent: a study flagged as
  methods development (new algorithms, not answering a question about a disease) is covered only
  when it is disease specific, that is, methods work within the bounds of a `DS-<disease>` purpose.

On chain both are one `uint64` bitmask (`ConsentRegistry` checks coverage with the same rules,
and a test holds the two against each other). Bit layout, fixed forever once deployed:

| bit | code | meaning |
|---|---|---|
| 0 | GRU | general research use |
| 1 | HMB | health, medical or biomedical research |
| 2 | NMDS | modifier: no general methods research (consent only) |
| 3 | METHODS | the study is methods development research (study only; not a DUO code) |
| 8 + i | DS-<DISEASES[i]> | disease-specific research, diseases in `DISEASES` order |

A disease code outside `DISEASES` is refused (`UnknownPurposeError`): a bitmask cannot carry an
open vocabulary, and a hash of the code list could not be checked by the contract. New diseases
are appended to the end of `DISEASES`, never inserted, so existing masks keep their meaning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from consent.errors import ConsentError

__all__ = [
    "DISEASES",
    "GENERAL_RESEARCH",
    "GRU",
    "GRU_BIT",
    "HMB",
    "HMB_BIT",
    "METHODS_BIT",
    "NMDS_BIT",
    "ConsentScope",
    "InvalidPurposesError",
    "Purpose",
    "StudyPurpose",
    "UnknownPurposeError",
    "covers",
    "covers_mask",
    "parse_purpose",
    "purpose_bits",
]

DISEASES: Final = (
    "CANCER",
    "DIABETES",
    "CVD",
    "ALZHEIMER",
    "ASTHMA",
    "COPD",
    "CKD",
    "STROKE",
    "HIV",
    "DEPRESSION",
    "RARE",
    "COVID19",
)
"""Disease codes of `DS-<disease>` in bit order (bit 8 + index). Append only."""

GRU_BIT: Final = 1 << 0
HMB_BIT: Final = 1 << 1
NMDS_BIT: Final = 1 << 2
METHODS_BIT: Final = 1 << 3
_DS_SHIFT: Final = 8
_DS_MASK: Final = ((1 << len(DISEASES)) - 1) << _DS_SHIFT
_CATEGORY_MASK: Final = GRU_BIT | HMB_BIT | _DS_MASK
_UINT64: Final = (1 << 64) - 1


class UnknownPurposeError(ConsentError, ValueError):
    """A purpose code that is not GRU, HMB, NMDS or DS-<one of DISEASES>."""

    def __init__(self, code: str) -> None:
        known = ", ".join(f"DS-{d}" for d in DISEASES)
        super().__init__(f"unknown purpose {code!r}: use GRU, HMB, NMDS or one of {known}")
        self.code = code


class InvalidPurposesError(ConsentError, ValueError):
    """A purposes bitmask or code list that is not a valid scope or study purpose."""


@dataclass(frozen=True, slots=True, order=True)
class Purpose:
    """One research purpose: `GRU`, `HMB` or `DS-<disease>` (`disease` set only for DS)."""

    code: str
    disease: str | None = None

    def __post_init__(self) -> None:
        if self.code in ("GRU", "HMB") and self.disease is None:
            return
        if self.code == "DS" and self.disease in DISEASES:
            return
        raise UnknownPurposeError(str(self))

    def __str__(self) -> str:
        return f"DS-{self.disease}" if self.code == "DS" else self.code

    @property
    def bit(self) -> int:
        """This purpose's bit in the on-chain mask."""
        if self.code == "GRU":
            return GRU_BIT
        if self.code == "HMB":
            return HMB_BIT
        assert self.disease is not None  # __post_init__ guarantees it for DS
        return 1 << (_DS_SHIFT + DISEASES.index(self.disease))

    def covers(self, other: Purpose) -> bool:
        """DUO's hierarchy: GRU covers all, HMB covers HMB and every DS, DS-x covers DS-x."""
        if self.code == "GRU":
            return True
        if self.code == "HMB":
            return other.code in ("HMB", "DS")
        return self == other


GRU: Final = Purpose("GRU")
HMB: Final = Purpose("HMB")


def parse_purpose(code: str) -> Purpose:
    """`GRU`, `HMB` or `DS-<disease>` (case-insensitive) as a `Purpose`."""
    text = code.strip().upper()
    if text.startswith("DS-"):
        return Purpose("DS", text[3:])
    return Purpose(text)


def _from_bits(mask: int) -> tuple[Purpose, ...]:
    found = [GRU] if mask & GRU_BIT else []
    found += [HMB] if mask & HMB_BIT else []
    found += [Purpose("DS", d) for i, d in enumerate(DISEASES) if mask >> (_DS_SHIFT + i) & 1]
    return tuple(found)


def _check_mask(mask: int, allowed: int) -> None:
    if not 0 <= mask <= _UINT64 or mask & ~allowed:
        raise InvalidPurposesError(f"purposes mask {mask:#x} sets bits outside {allowed:#x}")


@dataclass(frozen=True, slots=True)
class ConsentScope:
    """What a patient's consent covers: at least one purpose, and the NMDS modifier."""

    purposes: frozenset[Purpose]
    nmds: bool = False

    def __post_init__(self) -> None:
        if not self.purposes:
            raise InvalidPurposesError("a consent must cover at least one purpose")

    @classmethod
    def parse(cls, codes: Iterable[str]) -> ConsentScope:
        """A scope from codes such as `["HMB", "NMDS"]` or `["DS-CANCER"]`."""
        items = [c.strip().upper() for c in codes if c.strip()]
        nmds = "NMDS" in items
        return cls(frozenset(parse_purpose(c) for c in items if c != "NMDS"), nmds)

    @classmethod
    def from_mask(cls, mask: int) -> ConsentScope:
        """The scope an on-chain purposes mask encodes."""
        _check_mask(mask, _CATEGORY_MASK | NMDS_BIT)
        return cls(frozenset(_from_bits(mask)), bool(mask & NMDS_BIT))

    @property
    def mask(self) -> int:
        """The on-chain `uint64` purposes mask."""
        bits = NMDS_BIT if self.nmds else 0
        for purpose in self.purposes:
            bits |= purpose.bit
        return bits

    @property
    def codes(self) -> tuple[str, ...]:
        """The DUO codes, in bit order, NMDS last."""
        names = tuple(str(p) for p in _from_bits(self.mask))
        return (*names, "NMDS") if self.nmds else names

    def without(self, revoked: Iterable[Purpose]) -> ConsentScope | None:
        """The scope left once `revoked` purposes are withdrawn; None when nothing is left."""
        left = self.purposes - frozenset(revoked)
        return ConsentScope(left, self.nmds) if left else None


@dataclass(frozen=True, slots=True)
class StudyPurpose:
    """The one purpose a study declares, and whether it is methods development research."""

    purpose: Purpose
    methods: bool = False

    @classmethod
    def parse(cls, code: str, *, methods: bool = False) -> StudyPurpose:
        """A study purpose from a code such as `HMB` or `DS-CANCER`."""
        return cls(parse_purpose(code), methods)

    @classmethod
    def from_mask(cls, mask: int) -> StudyPurpose | None:
        """The purpose an on-chain study mask encodes; None for 0 (no purpose declared)."""
        if mask == 0:
            return None
        _check_mask(mask, _CATEGORY_MASK | METHODS_BIT)
        found = _from_bits(mask)
        if len(found) != 1:
            raise InvalidPurposesError(f"a study declares exactly one purpose, mask {mask:#x}")
        return cls(found[0], bool(mask & METHODS_BIT))

    @property
    def mask(self) -> int:
        """The on-chain `uint64` study purpose mask."""
        return self.purpose.bit | (METHODS_BIT if self.methods else 0)

    @property
    def covering_bits(self) -> int:
        """The consent bits any one of which covers this purpose (DUO's hierarchy upwards)."""
        if self.purpose.code == "GRU":
            return GRU_BIT
        return GRU_BIT | HMB_BIT | (self.purpose.bit if self.purpose.code == "DS" else 0)

    @property
    def refuses_nmds(self) -> bool:
        """Whether an NMDS consent is refused: general (not disease-specific) methods research."""
        return self.methods and self.purpose.code != "DS"

    def covers_mask(self, scope_mask: int) -> bool:
        """Whether a consent with `scope_mask` covers this purpose (the contract's bit test)."""
        if self.refuses_nmds and scope_mask & NMDS_BIT:
            return False
        return bool(scope_mask & self.covering_bits)

    def __str__(self) -> str:
        return f"{self.purpose} (methods)" if self.methods else str(self.purpose)


GENERAL_RESEARCH: Final = ConsentScope(frozenset({GRU}))
"""GRU alone: the scope of a consent given without naming purposes (what every consent meant
before scopes existed)."""


def covers(scope: ConsentScope, study: StudyPurpose | None) -> bool:
    """Whether a consent with `scope` covers a study with purpose `study` (None: undeclared,
    which every consent covers, as before purposes existed)."""
    if study is None:
        return True
    if study.refuses_nmds and scope.nmds:
        return False
    return any(p.covers(study.purpose) for p in scope.purposes)


def covers_mask(scope_mask: int, study_mask: int) -> bool:
    """`covers` over the on-chain masks, as `ConsentRegistry.purposesCover` computes it."""
    return covers(ConsentScope.from_mask(scope_mask), StudyPurpose.from_mask(study_mask))


def purpose_bits() -> dict[str, int]:
    """Every code's bit in the on-chain masks, in bit order (published by `GET /v1/eip712`)."""
    bits = {"GRU": GRU_BIT, "HMB": HMB_BIT, "NMDS": NMDS_BIT, "METHODS": METHODS_BIT}
    bits.update({f"DS-{d}": 1 << (_DS_SHIFT + i) for i, d in enumerate(DISEASES)})
    return bits
