"""What `pip install` and the sdist carry: checked on a real build of the project."""

import importlib
import pkgutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import genie_transforms

ROOT = Path(__file__).resolve().parent.parent


def build(kind: str, folder: Path) -> Path:
    """A real build of the project by setuptools' PEP 517 backend (`kind`: "sdist" or "wheel") into `folder`."""
    code = f"from setuptools import build_meta; build_meta.build_{kind}({str(folder)!r})"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    (built,) = folder.glob("*.tar.gz" if kind == "sdist" else "*.whl")
    return built


@pytest.mark.slow
def test_the_sdist_carries_scripts_examples_docs_and_changelog(tmp_path):
    sdist = build("sdist", tmp_path)
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        metadata = tar.extractfile(next(n for n in tar.getnames() if n.endswith("/PKG-INFO"))).read().decode()
    expected = {
        "CHANGELOG.md",
        "README.md",
        "hub_scripts/train_tiny_digits.py",
        "examples/few_shot.py",
        "benchmarks/evaluate.py",
        "docs/guides/quickstart.md",
        "mkdocs.yml",
        "genie_transforms/py.typed",
        "genie_transforms/digits/assets/digits/digits.npz",
        "tests/test_hub_scripts.py",
    }
    assert expected <= names, expected - names
    assert (
        "Classifier: Typing :: Typed" in metadata and "Project-URL: Paper, https://arxiv.org/abs/2312.02548" in metadata
    )
    assert "Requires-Dist: scikit-learn" in metadata and 'extra == "evaluation"' in metadata


@pytest.mark.slow
def test_the_wheel_carries_both_bundled_worlds_and_stays_under_30_mb(tmp_path):
    import zipfile

    wheel = build("wheel", tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("genie-tiny-digits", "genie-tiny-context"):
        assert f"genie_transforms/digits/assets/{folder}/unet/diffusion_pytorch_model.safetensors" in names
        assert f"genie_transforms/digits/assets/{folder}/genie.json" in names
    assert wheel.stat().st_size < 30 * 10**6, wheel.stat().st_size


def test_every_module_says_what_it_exports():
    for info in pkgutil.walk_packages(genie_transforms.__path__, "genie_transforms."):
        if info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError as err:  # an extra this environment does not have: the error names its pip command
            assert 'pip install "genie-transforms[' in str(err), err
            continue
        exported = getattr(module, "__all__", None)
        assert exported, f"{info.name} has no __all__"
        missing = [name for name in exported if not hasattr(module, name)]
        assert not missing, f"{info.name}.__all__ names {missing}, which it does not define"


PACKAGE_TESTS = {
    "genie_transforms": "tests/test_packaging.py",  # the public names, the distribution
    "genie_transforms.cli": "tests/cli/test_main.py",  # `genie` itself: parser, exit status, console
    "genie_transforms.digits.assets": "tests/digits/test_assets.py",
    "genie_transforms.digits": None,  # re-exports only
    "genie_transforms.evaluation": None,  # re-exports only
    "genie_transforms._version": "tests/test_packaging.py",  # the version, with the distribution
}


def test_the_tests_mirror_the_package():
    """Every module of the package has its own test module at the mirrored path (tests/<subpackage>/test_<name>.py)."""
    missing = []
    for info in pkgutil.walk_packages(genie_transforms.__path__, "genie_transforms."):
        if info.name.endswith("__main__"):
            continue
        if info.ispkg or info.name in PACKAGE_TESTS:
            expected = PACKAGE_TESTS[info.name]
        else:
            *folders, name = info.name.split(".")[1:]
            expected = "/".join(["tests", *folders, f"test_{name}.py"])
        if expected is not None and not (ROOT / expected).is_file():
            missing.append(f"{info.name} -> {expected}")
    assert not missing, missing


def test_the_suite_writes_only_into_temporary_folders(tiny_generator, make_dataset):
    """A cached `datasets` result, matplotlib's font cache and a command run by a test land in the suite's own
    temporary folder, never in the user's `~/.cache` or `~/.config`."""
    import os
    import tempfile

    import datasets
    import matplotlib

    from genie_transforms.datasets import generate_hard_negatives

    from .conftest import SCRATCH

    assert Path(SCRATCH).is_relative_to(tempfile.gettempdir())
    home = Path.home()
    out = generate_hard_negatives(make_dataset(2), tiny_generator, noise_ratio=1.0, targets="random_k:1", seed=0)
    (cache,) = {Path(f["filename"]).parent for f in out.cache_files}
    assert cache.is_relative_to(SCRATCH) and not cache.is_relative_to(home / ".cache")
    assert Path(datasets.config.HF_DATASETS_CACHE).is_relative_to(SCRATCH)
    assert Path(matplotlib.get_configdir()).is_relative_to(SCRATCH)
    child = subprocess.run(
        [sys.executable, "-c", "import datasets; print(datasets.config.HF_DATASETS_CACHE)"],
        env=os.environ,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(child.stdout.strip()).is_relative_to(SCRATCH)
