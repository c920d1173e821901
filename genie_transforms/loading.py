"""Loading an image-to-image pipeline from the Hub, a local folder, or a model bundled with the package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from . import __version__

ASSETS = Path(__file__).parent / "assets"
BUNDLED_MODELS: dict[str, Path] = {"genie-tiny-digits": ASSETS / "genie-tiny-digits"}
"""Reserved model names that resolve to folders shipped inside the package (never looked up on the Hub)."""


def resolve_model(model: str, revision: str | None, allow_pickle_weights: bool) -> tuple[Path, str | None]:
    """The local folder of `model` and the revision to record (the Hub commit when downloaded)."""
    if model in BUNDLED_MODELS:
        folder = BUNDLED_MODELS[model]
        if not (folder / "model_index.json").is_file():
            raise FileNotFoundError(f"The bundled model {model!r} is missing from {folder}; reinstall genie-transforms.")
        return folder, f"genie-transforms-{__version__}"
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ValueError(f"{path} has no model_index.json; give a folder saved with a pipeline's `save_pretrained`.")
        return path, revision
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ValueError(f"{model!r} is not a model folder (no such directory) and not a Hub id like 'org/name'.")
    from diffusers import DiffusionPipeline

    try:
        use_safetensors = _use_safetensors(allow_pickle_weights)
        folder = Path(DiffusionPipeline.download(model, revision=revision, use_safetensors=use_safetensors))
    except Exception as err:  # network, auth, offline mode, missing safetensors: say which model and what to do
        raise OSError(
            f"Could not get {model!r} (revision {revision or 'main'}) from the Hugging Face Hub: {err}. Check the id "
            "and your network; offline (HF_HUB_OFFLINE=1) only models already in the cache or local folders load."
        ) from err
    commit = folder.name if folder.parent.name == "snapshots" else revision
    return folder, commit


def _use_safetensors(allow_pickle_weights: bool) -> bool | None:
    """True: safetensors only. None: prefer safetensors, fall back to pickled weights (opt-in)."""
    return None if allow_pickle_weights else True


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_img2img_pipeline(
    model: str,
    revision: str | None = None,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    allow_pickle_weights: bool = False,
) -> tuple[Any, str | None]:
    """Load `model` as a diffusers image-to-image pipeline on `device`; returns it and the revision to record.

    Weights load from safetensors only unless `allow_pickle_weights`; no remote code is ever run; the safety
    checker is not loaded (METHOD.md: a triggered checker returns black images).
    """
    from diffusers import AutoPipelineForImage2Image

    folder, commit = resolve_model(model, revision, allow_pickle_weights)
    device = device or default_device()
    if dtype is None:
        dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
    extra: dict[str, Any] = {}
    if "safety_checker" in json.loads((folder / "model_index.json").read_text()):
        extra = {"safety_checker": None, "requires_safety_checker": False}
    try:
        pipe = AutoPipelineForImage2Image.from_pretrained(
            folder, dtype=dtype, use_safetensors=_use_safetensors(allow_pickle_weights), **extra
        )
    except (OSError, EnvironmentError, ValueError) as err:
        if not allow_pickle_weights and "safetensors" in str(err):
            raise ValueError(
                f"{model!r} has no safetensors weights, and pickled weights (.bin/.ckpt) can run code when loaded. "
                "Convert the model to safetensors, or pass allow_pickle_weights=True if you trust its source."
            ) from err
        raise
    return pipe.to(device), commit
