"""Torch in a forked child (`genie_transforms.forking`): one thread there, with a warning that says why."""

import multiprocessing
import warnings

import pytest
import torch


def _child(queue):
    from genie_transforms.errors import GenieWarning
    from genie_transforms.forking import single_thread_after_fork

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        single_thread_after_fork()
    queue.put((torch.get_num_threads(), [str(w.message) for w in caught if w.category is GenieWarning]))


@pytest.fixture
def two_threads():
    """Torch on two threads in this process for the test (a test worker of `-n` may run on one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_a_forked_child_runs_torch_on_one_thread_and_says_so(two_threads):
    import genie_transforms.forking  # noqa: F401  (registered before the fork)

    torch.ones(64, 64) @ torch.ones(64, 64)  # torch has run in the parent
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    threads, messages = queue.get(timeout=60)
    child.join(timeout=60)
    assert threads == 1 and any("forked process" in m and "spawn" in m for m in messages)
    assert torch.get_num_threads() > 1  # the parent keeps its threads
