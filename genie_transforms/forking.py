"""Torch in a forked process: a child forked after torch ran has lost the parent's OpenMP threads, and a
multi-threaded op there hangs forever; the engine runs on one thread in such a child (as DataLoader workers do)."""

from __future__ import annotations

import os
import warnings

import torch

from .errors import GenieWarning

_FORKED = False


def _after_fork_in_child() -> None:
    global _FORKED
    _FORKED = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def single_thread_after_fork() -> None:
    """In a process forked after torch ran (`multiprocessing.Pool`'s default on Linux), the parent's OpenMP threads
    are gone and a multi-threaded torch op hangs forever; run torch on one thread there (as DataLoader workers do)."""
    if _FORKED and torch.get_num_threads() > 1:
        torch.set_num_threads(1)
        warnings.warn(
            "GenieGenerator runs in a forked process: torch uses one thread here, since a forked child cannot use the "
            "parent's threads. For speed, start workers with the 'spawn' method (or use DataLoader workers).",
            GenieWarning,
            stacklevel=3,
        )


__all__ = ["single_thread_after_fork"]
