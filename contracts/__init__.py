"""Solidity sources of consentfl and their committed compiled artifacts (ABI + bytecode)."""

from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = SOURCE_DIR / "build"

__all__ = ["ARTIFACTS_DIR", "SOURCE_DIR"]
