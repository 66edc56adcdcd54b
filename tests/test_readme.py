"""The README is the front door: its configuration table and its test command stay true."""

from __future__ import annotations

import re
from pathlib import Path

from fastproc.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_table_lists_every_setting_and_only_those() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration"):].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `FASTPROC_([A-Z_]+)`", table, re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command in readme
