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


def quickstart_commands() -> list[str]:
    """The shell commands of the README's Quickstart section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    return [m.group(1).strip() for m in re.finditer(r"^```bash\n(.*?)^```", section, re.S | re.M)]


def test_ci_runs_the_quickstart_commands_first_and_as_written():
    """`.ci/run` runs the README's two Quickstart commands (the demo, then the tests) before anything else, in
    its fresh environment, word for word (`time` in front of the demo aside): a Quickstart that fails fails CI."""
    demo, tests = quickstart_commands()
    assert demo == 'pip install ".[evaluation]" && genie demo'
    assert tests == 'pip install ".[dev]" && python -m pytest -n auto --dist loadfile'
    lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    # each runs in a subshell, so that a failed install stops CI (`set -e` ignores the left side of `&&`); no
    # other line uses `&&`, which would hide a failure the same way
    quickstart = [line for line in commands if "&&" in line]
    assert len(quickstart) == 2 and all(line.startswith("( ") and line.endswith(" )") for line in quickstart)
    ran = [line.removeprefix("( ").removesuffix(" )").replace("&& time ", "&& ") for line in commands]
    first_install = next(i for i, line in enumerate(ran) if line.startswith("pip install"))
    assert ran[first_install] == demo and tests in ran[first_install:]
    assert ran.index(tests) < next(i for i, line in enumerate(ran) if line.startswith(("ruff", "mypy")))
    assert ran[:first_install].count("python3 -m venv .venv-ci") == 1  # a fresh environment


def test_the_method_is_documented_in_the_project_and_every_mention_points_there():
    """The specification lives in the project (docs/guides/method.md, in the site's nav); no text names a file the
    user does not have."""
    import subprocess

    page = ROOT / "docs/guides/method.md"
    text = page.read_text()
    for must in ("GeNIe-Ada", "argmax", "0.8", "DPM-Solver++", "all_others", "logistic regression", "reference code"):
        assert must in text
    assert "guides/method.md" in (ROOT / "mkdocs.yml").read_text()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    files = [ROOT / f for f in tracked if f.endswith((".py", ".md", ".toml", ".yml", ".json"))] or PAGES
    absent = "METHOD" + ".md"  # spelled apart, so that this file does not name it
    assert not [f for f in files if f.is_file() and absent in f.read_text(errors="ignore")]
