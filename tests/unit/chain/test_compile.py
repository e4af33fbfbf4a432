"""Committed artifacts match the sources; every ABI error has a Python exception class."""

from __future__ import annotations

import pytest
from eth_utils.abi import function_signature_to_4byte_selector

from chain.compile import CONTRACT_NAMES, compile_contracts, find_compiler, load_artifact
from chain.errors import CompilationError, custom_error_classes
from chain.revert_decoder import RevertDecoder


@pytest.mark.timeout(240)
def test_recompiling_the_sources_reproduces_the_committed_artifacts() -> None:
    fresh = compile_contracts(find_compiler())
    for name in CONTRACT_NAMES:
        committed = load_artifact(name)
        assert fresh[name].abi == committed.abi, f"{name} ABI drifted: run python -m chain.compile"
        assert fresh[name].bytecode == committed.bytecode, f"{name} bytecode drifted"
        assert fresh[name].sha256 == committed.sha256


def test_every_abi_error_has_a_python_exception_class() -> None:
    classes = custom_error_classes()
    for name in CONTRACT_NAMES:
        for entry in load_artifact(name).abi:
            if entry["type"] != "error":
                continue
            signature = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
            cls = classes.get(function_signature_to_4byte_selector(signature))
            assert cls is not None, f"no exception class for {name}.{signature}"
            assert cls.__name__ == f"{entry['name']}Error"
            assert cls.signature == signature


def test_decoder_builds_over_all_artifacts_and_refuses_an_unknown_abi_error() -> None:
    RevertDecoder(load_artifact(n).abi for n in CONTRACT_NAMES)
    bogus = [{"type": "error", "name": "NotDeclaredAnywhere", "inputs": []}]
    with pytest.raises(CompilationError, match="NotDeclaredAnywhere"):
        RevertDecoder([bogus])


def test_loading_an_unknown_artifact_raises_compilation_error() -> None:
    with pytest.raises(CompilationError):
        load_artifact("Nope")
