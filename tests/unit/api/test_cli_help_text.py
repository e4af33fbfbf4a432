"""Every `--help` text survives the CLI's markdown rendering.

`api.cli` renders help in typer's markdown mode, where `<word>` is an HTML tag and is dropped:
"DS-<disease>" printed as "DS-". These checks walk the whole command tree."""

from __future__ import annotations

import re
from typing import Any

import typer.main

from api.cli import app

_TAG = re.compile(r"<[A-Za-z][A-Za-z0-9_-]*>")


def _commands(group: Any, path: str = "consentfl") -> list[tuple[str, Any]]:
    """Every command under `group` (typer vendors its own click: its groups are duck-typed)."""
    found = [(path, group)]
    if hasattr(group, "list_commands"):
        context = group.context_class(group)
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            assert command is not None, f"{path} {name}"
            found.extend(_commands(command, f"{path} {name}"))
    return found


def _texts(command: Any) -> list[str]:
    texts = [command.help or ""]
    texts.extend(getattr(p, "help", None) or "" for p in command.params)
    return texts


def test_the_tree_is_walked() -> None:
    names = {path for path, _ in _commands(typer.main.get_command(app))}
    assert {"consentfl trainer", "consentfl patients enroll", "consentfl data split"} <= names


def test_no_help_text_holds_a_placeholder_markdown_would_drop() -> None:
    dropped = [
        (path, tag)
        for path, command in _commands(typer.main.get_command(app))
        for text in _texts(command)
        for tag in _TAG.findall(text)
    ]
    assert dropped == []


def test_the_check_sees_a_dropped_placeholder() -> None:
    assert _TAG.findall("comma-separated (GRU, HMB, DS-<disease>, NMDS)") == ["<disease>"]
