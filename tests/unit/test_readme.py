"""The README's two commands are the ones a fresh clone needs, and CI runs the test one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_shows_make_demo_and_make_test_as_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```[a-z]*\n(.*?)```", readme, flags=re.S)
    commands = [line.split("#")[0].strip() for block in blocks[:1] for line in block.splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    runs = [line.strip() for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    assert "make test" in runs


def test_makefile_targets_set_everything_up_before_running() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: setup$", makefile, flags=re.M)
    assert re.search(r"^test: lint$", makefile, flags=re.M)
    assert re.search(r"^lint: setup$", makefile, flags=re.M)
    assert "torch==2.13.0" in makefile
    assert "npm ci" in makefile
    setup = makefile.index("torch==2.13.0")
    assert setup < makefile.index("pip install --quiet -e '.[dev")  # [dev] or [dev,dp]
