"""`genie <command>`: one CLI, each command a small module with `register(subparsers)` and `run(args)`."""

from __future__ import annotations

import argparse
import sys

from . import ada, bench, demo, env, generate, push

COMMANDS = (demo, generate, ada, push, bench, env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genie", description="GeNIe hard negatives through diffusion.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, OSError) as err:
        print(f"genie {args.command}: error: {err}", file=sys.stderr)
        return 2
