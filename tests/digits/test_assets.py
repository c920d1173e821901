"""The files the package ships for the digits (`genie_transforms.digits.assets`)."""

import importlib.metadata

import pytest

from genie_transforms.digits.assets import ASSETS, BACKBONE_DIR, DATA_FILE, MODEL_DIR
from genie_transforms.loading import BUNDLED_MODELS


def test_every_named_path_exists_and_the_reserved_name_resolves_to_the_model():
    assert DATA_FILE.is_file() and (MODEL_DIR / "model_index.json").is_file()
    assert (BACKBONE_DIR / "model.safetensors").is_file() and BUNDLED_MODELS["genie-tiny-digits"] == MODEL_DIR


def test_bundled_files_are_safetensors_and_small():
    files = [p for p in ASSETS.rglob("*") if p.is_file()]
    weights = [p for p in files if p.suffix in (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".pkl")]
    assert weights and all(p.suffix == ".safetensors" for p in weights)
    assert sum(p.stat().st_size for p in files) < 25 * 2**20
    assert (BUNDLED_MODELS["genie-tiny-digits"] / "README.md").is_file()


def test_bundled_files_are_in_the_installed_distribution():
    try:
        files = importlib.metadata.files("genie-transforms") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("genie-transforms is not installed (running from a checkout)")
    names = {str(f) for f in files}
    if not any(n.startswith("genie_transforms/") for n in names):
        pytest.skip("editable install: files are read from the checkout")
    assert "genie_transforms/digits/assets/genie-tiny-digits/unet/diffusion_pytorch_model.safetensors" in names
    assert "genie_transforms/digits/assets/digits-backbone/model.safetensors" in names
