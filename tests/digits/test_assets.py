"""The files the package ships for the digits (`genie_transforms.digits.assets`)."""

import importlib.metadata

import pytest

from genie_transforms.digits.assets import (
    ASSETS,
    BACKBONE_DIR,
    CONTEXT_BACKBONE_DIR,
    CONTEXT_MODEL_DIR,
    DATA_FILE,
    MODEL_DIR,
)
from genie_transforms.loading import BUNDLED_MODELS


def test_every_named_path_exists_and_the_reserved_name_resolves_to_the_model():
    assert DATA_FILE.is_file() and (MODEL_DIR / "model_index.json").is_file()
    assert (BACKBONE_DIR / "model.safetensors").is_file() and BUNDLED_MODELS["genie-tiny-digits"] == MODEL_DIR
    assert (CONTEXT_MODEL_DIR / "model_index.json").is_file() and (CONTEXT_BACKBONE_DIR / "model.safetensors").is_file()
    assert BUNDLED_MODELS["genie-tiny-context"] == CONTEXT_MODEL_DIR


def test_each_bundled_model_declares_its_prompts_and_records_its_training():
    import json

    for folder in (MODEL_DIR, CONTEXT_MODEL_DIR):
        assert json.loads((folder / "genie.json").read_text()) == {"prompt_template": "a photo of the digit {}."}
        training = json.loads((folder / "training.json").read_text())
        assert training["unet_steps"] > 0 and training["seed"] == 0 and (folder / "README.md").is_file()
    assert json.loads((CONTEXT_MODEL_DIR / "training.json").read_text())["contexts"][0] == "plain"


def test_bundled_files_are_safetensors_and_small():
    files = [p for p in ASSETS.rglob("*") if p.is_file()]
    weights = [p for p in files if p.suffix in (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".pkl")]
    assert weights and all(p.suffix == ".safetensors" for p in weights)
    assert sum(p.stat().st_size for p in files) < 25 * 2**20
    assert all((BUNDLED_MODELS[name] / "README.md").is_file() for name in ("genie-tiny-digits", "genie-tiny-context"))


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
    assert "genie_transforms/digits/assets/genie-tiny-context/unet/diffusion_pytorch_model.safetensors" in names
    assert "genie_transforms/digits/assets/context-backbone/model.safetensors" in names
