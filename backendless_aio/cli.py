"""The ``backendless-aio`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backendless-aio",
        description="The asyncio Backendless client and its local Backendless emulator.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from .emulator.cli import add_emulator_parser

    add_emulator_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
