"""`genie <command>`: one CLI, each command a small module with `register(subparsers)` and `run(args)`.

Exit status: 0 on success, 1 for an error at run time (one line on stderr), 2 for a usage error, 130 after Ctrl-C
(the line says how to resume). A bug in genie-transforms still shows its traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from .._version import __version__
from . import ada, bench, demo, env, generate, publish, push
from .common import UsageError

COMMANDS = (demo, generate, ada, publish, push, bench, env)
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # the loading bars of huggingface_hub, diffusers and transformers
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genie", description="GeNIe hard negatives through diffusion.")
    parser.add_argument("--version", action="version", version=f"genie-transforms {__version__}")
    parser.add_argument(
        "--verbose", action="store_true", help="show the warnings, logs and loading bars of the libraries underneath"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def quiet_console() -> None:
    """Users see our progress and results: third-party progress bars, logs and warnings are off (`--verbose`
    keeps them). Our own warnings (`GenieWarning`) and log lines still show."""
    import logging
    import warnings

    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore")
    # libraries imported before (by a script that calls main) read the environment already: tell them directly
    import datasets
    import diffusers
    import huggingface_hub
    import transformers

    huggingface_hub.utils.disable_progress_bars()
    datasets.disable_progress_bars()
    for library in (datasets, diffusers, transformers):
        library.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    from ..errors import GenieWarning

    warnings.filterwarnings("default", category=GenieWarning)
    logger = logging.getLogger("genie_transforms")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("genie: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        from ..loading import LOADING_BARS_ENV

        os.environ[LOADING_BARS_ENV] = "1"
    elif args.command != "env":
        quiet_console()
    previous = _terminate_as_interrupt()
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"genie {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"genie {args.command}: interrupted; finished work is kept, run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except (ValueError, OSError, ImportError, RuntimeError) as err:
        print(f"genie {args.command}: error: {err}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate_as_interrupt() -> Any:
    """SIGTERM (a scheduler's preemption, `kill`, a container stop) ends a command like Ctrl-C: finished chunks are
    kept and one line says to re-run. Returns the previous handler (None off the main thread, where none is set)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        return None


__all__ = [
    "COMMANDS",
    "QUIET_ENV",
    "build_parser",
    "main",
    "quiet_console",
]
