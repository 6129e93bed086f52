"""README promises: the command table lists exactly the registered commands, and the two
commands (`make serve`, `make test`) are the ones .ci/run and the Makefile provide."""

from __future__ import annotations

import re
from pathlib import Path

import tandemkv.persistence
import tandemkv.scripting  # noqa: F401  (registers the scripting commands)
from tandemkv.commands import TABLE

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| group") or line.startswith("|---"):
            continue
        listed = line.split("|")[2]
        for match in re.finditer(r"([A-Z][A-Z_-]*)(?: \(([^)]*)\))?", listed):
            name = match.group(1).lower()
            names.add(name)
            if match.group(2):
                names.update(f"{name}|{sub.strip().lower()}" for sub in match.group(2).split(","))
    return names


def _registered_commands() -> set[str]:
    names: set[str] = set()
    for spec in TABLE:
        names.add(spec.name)
        names.update(f"{spec.name}|{sub.decode()}" for sub in spec.subcommands)
    return names


def test_readme_command_table_matches_the_command_table():
    listed = _readme_commands()
    registered = _registered_commands()
    assert listed - registered == set(), "README lists commands the server does not have"
    assert registered - listed == set(), "commands missing from README's table"


def test_readme_names_the_two_commands_that_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert "    make serve\n" in readme and "    make test\n" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^serve:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
