"""The README's configuration tables and the settings class cannot drift apart.

Every field of `Settings` (read from `PROCTOR_<NAME>`) must appear in a README table row, and every
`PROCTOR_…` variable a row names must be a setting. Rows may abbreviate a sibling of the variable
before it in the same cell: `PROCTOR_RATE_LIMIT_SUBMIT`, `…_CHECK` names `PROCTOR_RATE_LIMIT_CHECK`.
"""

from __future__ import annotations

import re
from pathlib import Path

from proctor.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
TOKEN = re.compile(r"`(PROCTOR_[A-Z0-9_]+|…_[A-Z0-9_]+)`")


def documented(readme: str) -> tuple[set[str], list[set[str]]]:
    """Full names in the tables' first column, and for each abbreviation the names it could mean."""
    names: set[str] = set()
    abbreviations: list[set[str]] = []
    for line in readme.splitlines():
        if not line.startswith("| `PROCTOR_"):
            continue
        previous = ""
        for token in TOKEN.findall(line.split(" | ")[0]):
            if token.startswith("PROCTOR_"):
                names.add(token)
                previous = token
            else:  # `…_SUFFIX`: the previous name with some trailing segments replaced
                parts = previous.split("_")
                abbreviations.append({"_".join(parts[:k]) + token[1:] for k in range(1, len(parts))})
    return names, abbreviations


def settings_variables() -> set[str]:
    return {"PROCTOR_" + name.upper() for name in Settings.model_fields}


def test_every_setting_is_in_the_readme() -> None:
    names, abbreviations = documented(README.read_text(encoding="utf-8"))
    variables = settings_variables()
    covered = names | {name for options in abbreviations for name in options if name in variables}
    assert sorted(variables - covered) == []


def test_every_readme_row_names_a_setting() -> None:
    names, abbreviations = documented(README.read_text(encoding="utf-8"))
    variables = settings_variables()
    assert sorted(names - variables) == []
    assert [sorted(options)[:3] for options in abbreviations if not options & variables] == []


def test_abbreviations_are_read_against_the_name_before_them() -> None:
    row = "| `PROCTOR_RATE_LIMIT_SUBMIT`, `…_CHECK` | `1/minute` | per hotkey |"
    names, abbreviations = documented(row)
    assert names == {"PROCTOR_RATE_LIMIT_SUBMIT"}
    assert "PROCTOR_RATE_LIMIT_CHECK" in abbreviations[0]
