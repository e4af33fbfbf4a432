"""Defaults the CLI and the wiring share (a module of constants: importing it loads nothing)."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_RPC", "HANDOVER_SCRYPT_N"]

DEFAULT_RPC: Final = "http://127.0.0.1:8545"
"""The RPC URL used when neither the option nor the manifest names one (anvil's port)."""

HANDOVER_SCRYPT_N: Final = 2**18
"""scrypt cost of the keystores handed to patients (`api.handover`): eth-account's default
(~1 s per key here, seconds in a browser)."""
