"""ByzFL (EPFL's Byzantine-robust FL library, PyPI `byzfl`) as the reference the strategies and
attacks are checked against.

`import byzfl` runs its package `__init__`, which imports its training framework and through it
torchvision; no torchvision wheel fits torch 2.13, so the Makefile installs byzfl with `--no-deps`
and this module loads only `byzfl.aggregators` and `byzfl.attacks` (numpy, torch and scipy only),
under a bare package object that skips that `__init__`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["byzfl_aggregators", "byzfl_attacks"]


def _package() -> None:
    if "byzfl" in sys.modules:
        return
    spec = importlib.util.find_spec("byzfl")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("byzfl is not installed: run `make setup` (it installs byzfl --no-deps)")
    package = types.ModuleType("byzfl")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["byzfl"] = package


def byzfl_aggregators() -> Any:
    _package()
    return importlib.import_module("byzfl.aggregators")


def byzfl_attacks() -> Any:
    _package()
    return importlib.import_module("byzfl.attacks")
