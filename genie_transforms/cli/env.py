"""`genie env`: versions and devices, for bug reports."""

from __future__ import annotations

import argparse

from .common import report


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("env", help="print versions and devices for bug reports", description=__doc__)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for key, value in report().items():
        print(f"- {key}: {value}")
    return 0


__all__ = [
    "register",
    "run",
]
