"""Every Python code block of the README and the documentation guides runs, in order, on the shipped model: the
documentation cannot drift from the code. Blocks of one page share a namespace (a page reads top to bottom)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, code) of each ```python block of a Markdown page."""
    text = page.read_text()
    return [(text[: m.start()].count("\n") + 1, m.group(1)) for m in FENCE.finditer(text)]


def test_the_pages_have_code_to_run():
    assert {p.name for p in PAGES} >= {"README.md", "quickstart.md", "transforms.md", "datasets.md"}
    assert sum(len(python_blocks(p)) for p in PAGES) >= 20


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_block_runs(page, tmp_path, monkeypatch):
    pytest.importorskip("torchvision")  # the pages show both hosts
    monkeypatch.chdir(tmp_path)  # files the examples write land here
    namespace: dict = {"__name__": "__docs__"}
    for line, code in python_blocks(page):
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        except Exception as err:  # name the block that broke
            raise AssertionError(f"The code block at {page.name}:{line} fails: {type(err).__name__}: {err}") from err
