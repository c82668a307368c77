"""The CLI's help lines, listed without importing the commands, match the commands."""

from __future__ import annotations

import inspect

import pytest

from newsletter.cli.app import COMMANDS, load_command


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_lines_listed_without_import_match_the_commands(name: str) -> None:
    command = load_command(name)
    assert command.help is not None
    first_line = inspect.cleandoc(command.help).split("\n\n")[0].replace("\n", " ")
    assert COMMANDS[name].help == first_line
