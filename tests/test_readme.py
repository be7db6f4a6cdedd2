"""The README is the front door: its commands and its fault table must stay true."""

from __future__ import annotations

import re
from pathlib import Path

from backendless_aio.errors import fault_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    match = re.search(r'^test_command="(.+)"$', ci, re.MULTILINE)
    assert match, ".ci/run must define test_command"
    command = match.group(1)
    assert command in README
    assert "pytest" in command


def test_the_fault_table_is_the_code_table() -> None:
    faults = (ROOT / "docs" / "faults.md").read_text(encoding="utf-8")
    block = faults.split("<!-- fault-table")[1].split("<!-- /fault-table -->")[0]
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.+) \|$", block, re.MULTILINE)
    assert [(int(c), n, m) for c, n, m in rows] == fault_table()


def test_the_readme_is_a_short_front_door() -> None:
    assert len(README.splitlines()) <= 400


def test_the_readmes_links_lead_somewhere() -> None:
    """Relative links must name files of the repository (the docs site's own links are
    checked by ``mkdocs build --strict``)."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert local, "the README links to the docs pages"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []
    assert not any(t.startswith("../") for t in local)
