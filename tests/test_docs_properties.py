"""docs/properties.md: its example runs as written, and its type table names every column type
the emulator gives a new column."""

from __future__ import annotations

import re
from pathlib import Path

from backendless_aio.emulator import schema

DOC = (Path(__file__).resolve().parent.parent / "docs" / "properties.md").read_text("utf-8")


def test_the_example_runs_as_written() -> None:
    code = re.search(r"```python\n(.*?)```", DOC, re.DOTALL)
    assert code is not None
    exec(compile(code.group(1), "docs/properties.md", "exec", dont_inherit=True),
         {"__name__": "docs_properties"})


def test_the_type_table_names_every_inferred_type() -> None:
    table = DOC.split("## The type table")[1].split("##")[0]
    for value in (True, 1, 1.5, "s", {}, "2024-05-01T12:30:00.000Z"):
        assert f"`{schema.infer_type(value)}`" in table
