"""Compile the Solidity contracts and load the committed artifacts (ABI + bytecode).

Compilation goes through py-solc-x's `compile_standard`, with a native `solc` of the pinned
version when one is on PATH, otherwise solc-js from `node_modules` behind `solcjs_shim.js`.
Never downloads a compiler.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import solcx
from solcx.exceptions import SolcError

from chain.errors import CompilationError

__all__ = [
    "ARTIFACT_DIR",
    "CONTRACT_NAMES",
    "EVM_VERSION",
    "SOLC_VERSION",
    "Artifact",
    "compile_contracts",
    "compiler_input",
    "find_compiler",
    "load_artifact",
    "write_artifacts",
]

log = logging.getLogger(__name__)

SOLC_VERSION: Final = "0.8.37"
EVM_VERSION: Final = "cancun"
CONTRACT_NAMES: Final = (
    "StudyRegistry",
    "ConsentRegistry",
    "PrivacyBudget",
    "RoundLedger",
    "SecAggCoordinator",
    "Contributions",
    "DatasetInventory",
    "Rollbacks",
)

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
CONTRACTS_DIR: Final = PROJECT_ROOT / "contracts"
ARTIFACT_DIR: Final = CONTRACTS_DIR / "build"
SHIM: Final = Path(__file__).resolve().parent / "solcjs_shim.js"


@dataclass(frozen=True, slots=True)
class Artifact:
    """A compiled contract: its ABI and creation bytecode (hex, no 0x)."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical JSON of ABI + bytecode, recorded in deployment manifests."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, stable layout) as committed under contracts/build/."""
        body = {"contractName": self.name, "abi": list(self.abi), "bytecode": self.bytecode}
        return json.dumps(body, indent=2, sort_keys=True) + "\n"


def _sources() -> dict[str, Path]:
    files = sorted(CONTRACTS_DIR.glob("*.sol")) + sorted(CONTRACTS_DIR.glob("interfaces/*.sol"))
    return {f"contracts/{p.relative_to(CONTRACTS_DIR).as_posix()}": p for p in files}


def compiler_input() -> dict[str, Any]:
    """The standard-JSON input: every source inlined, pinned EVM version, optimizer on."""
    return {
        "language": "Solidity",
        "sources": {key: {"content": path.read_text()} for key, path in _sources().items()},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": 200},
            "metadata": {"bytecodeHash": "none"},
            "outputSelection": {
                f"contracts/{name}.sol": {name: ["abi", "evm.bytecode.object"]}
                for name in CONTRACT_NAMES
            },
        },
    }


def _native_solc_matches(path: str) -> bool:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return f"Version: {SOLC_VERSION}+" in out


def find_compiler() -> Path:
    """A native `solc` of the pinned version if installed, else the solc-js shim."""
    native = shutil.which("solc")
    if native is not None and _native_solc_matches(native):
        return Path(native)
    if not (PROJECT_ROOT / "node_modules" / "solc").is_dir():
        raise CompilationError(
            f"no solc {SOLC_VERSION}: install it or run `npm ci` to get solc-js in node_modules"
        )
    return SHIM


def compile_contracts(solc: Path | None = None) -> dict[str, Artifact]:
    """Compile every contract under contracts/ and return the deployable ones by name."""
    binary = solc if solc is not None else find_compiler()
    log.info("compiling contracts with %s", binary)
    try:
        output = solcx.compile_standard(compiler_input(), solc_binary=binary)
    except SolcError as exc:
        raise CompilationError(f"solc failed: {exc}") from exc
    artifacts: dict[str, Artifact] = {}
    for name in CONTRACT_NAMES:
        compiled = output["contracts"][f"contracts/{name}.sol"][name]
        artifacts[name] = Artifact(
            name=name, abi=tuple(compiled["abi"]), bytecode=compiled["evm"]["bytecode"]["object"]
        )
    return artifacts


def write_artifacts(artifacts: dict[str, Artifact], directory: Path = ARTIFACT_DIR) -> None:
    """Write each artifact as `<name>.json` (the committed form)."""
    directory.mkdir(parents=True, exist_ok=True)
    for artifact in artifacts.values():
        (directory / f"{artifact.name}.json").write_text(artifact.to_json())


def load_artifact(name: str) -> Artifact:
    """The committed artifact for contract `name`."""
    if name not in CONTRACT_NAMES:
        raise CompilationError(f"unknown contract {name!r}")
    text = resources.files("contracts").joinpath("build", f"{name}.json").read_text()
    body = json.loads(text)
    return Artifact(name=body["contractName"], abi=tuple(body["abi"]), bytecode=body["bytecode"])


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    write_artifacts(compile_contracts())
