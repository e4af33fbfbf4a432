"""The consent index's patient rows: address <-> dense integer row, matched case-insensitively.

Addresses are kept as given (`chain/` hands them over checksummed). Look-ups try the address
exactly as written first (one dictionary probe, no string work: what makes the first mask over a
million addresses cheap) and fall back to a lower-cased dictionary only for addresses that miss,
built on the first miss (so opening the index does not lower-case a million strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat

import numpy as np
import numpy.typing as npt

__all__ = ["PatientRows"]


class PatientRows:
    """Dense rows for patient addresses; rows never change once assigned."""

    def __init__(self, addresses: list[str]) -> None:
        self._addresses = addresses
        self._exact: dict[str, int] = dict(zip(addresses, range(len(addresses)), strict=True))
        self._lower: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self._addresses)

    @property
    def addresses(self) -> Sequence[str]:
        """Every address, indexed by row (read it, never change it)."""
        return self._addresses

    def address(self, row: int) -> str:
        """The address at `row`, as first seen."""
        return self._addresses[row]

    def _lowered(self) -> dict[str, int]:
        if self._lower is None:
            self._lower = {a.lower(): i for i, a in enumerate(self._addresses)}
        return self._lower

    def row(self, address: str) -> int:
        """The row of `address` in any case; -1 if never seen."""
        found = self._exact.get(address)
        if found is not None:
            return found
        return self._lowered().get(address.lower(), -1) if isinstance(address, str) else -1

    def lookup(self, patients: Sequence[str]) -> npt.NDArray[np.int64]:
        """Each address's row (any case); -1 for one never seen or not a string."""
        try:
            rows = np.fromiter(
                map(self._exact.get, patients, repeat(-1)), dtype=np.int64, count=len(patients)
            )
        except TypeError:  # an unhashable entry: not an address
            keys = (p if isinstance(p, str) else "" for p in patients)
            rows = np.fromiter(
                map(self._exact.get, keys, repeat(-1)), dtype=np.int64, count=len(patients)
            )
        missing = np.flatnonzero(rows < 0)
        if missing.size:
            lowered = self._lowered()
            for i in missing.tolist():
                patient = patients[i]
                rows[i] = lowered.get(patient.lower(), -1) if isinstance(patient, str) else -1
        return rows

    def add(self, addresses: Iterable[str]) -> None:
        """Append new patients (the caller checked they are new) at the next rows."""
        for address in addresses:
            row = len(self._addresses)
            self._addresses.append(address)
            self._exact[address] = row
            if self._lower is not None:
                self._lower[address.lower()] = row
