"""Feature extractors for GeNIe-Ada and evaluation: the classifier's own view of an image, L2-normalised."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from .images import pil_to_tensor, to_rgb


def default_preprocess(size: int | None = None) -> Callable[[list], torch.Tensor]:
    """Images (any form the engine accepts) to a float NCHW batch in [0, 1], resized to `size` if given."""

    def preprocess(images: list) -> torch.Tensor:
        tensors = []
        for image in images:
            rgb, _ = to_rgb(image)
            if size is not None and rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
            tensors.append(pil_to_tensor(rgb))
        if len({t.shape for t in tensors}) > 1:
            raise ValueError(
                "The embedder got images of different sizes; give it a preprocess that resizes them, e.g. "
                "Embedder(model, default_preprocess(224))."
            )
        return torch.stack(tensors)

    return preprocess


class Embedder:
    """Wraps a feature extractor: images -> L2-normalised feature vectors, shape (N, dim).

    Args:
        model (`torch.nn.Module` or callable): maps a preprocessed batch to features (N, dim) (penultimate,
            globally pooled). A classifier's head must be removed first (see [`torchvision_embedder`]).
        preprocess (callable, *optional*): list of images -> model input; float NCHW in [0, 1] by default.
        name (`str`): recorded in noise tables.
        batch_size (`int`, defaults to 64): images per forward pass.
        device (`str`, *optional*): where to run the model (its own device by default).
    """

    def __init__(
        self,
        model: torch.nn.Module | Callable[[Any], Any],
        preprocess: Callable[[list], Any] | None = None,
        name: str = "embedder",
        batch_size: int = 64,
        device: str | torch.device | None = None,
    ) -> None:
        if not callable(model):
            raise TypeError(f"`model` must be a torch.nn.Module or a callable, got {type(model).__name__}.")
        self.model = model
        self.preprocess = preprocess or default_preprocess()
        self.name = name
        self.batch_size = batch_size
        if device is None and isinstance(model, torch.nn.Module):
            param = next(model.parameters(), None)
            device = param.device if param is not None else "cpu"
        self.device = torch.device(device or "cpu")
        if isinstance(model, torch.nn.Module):
            model.eval()

    def __call__(self, images: Sequence[Any]) -> np.ndarray:
        images = list(images)
        if not images:
            raise ValueError("Embedder got no images.")
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = self.preprocess(images[start : start + self.batch_size])
                if isinstance(batch, torch.Tensor):
                    batch = batch.to(self.device)
                feats = self.model(batch)
                feats = feats.detach().float().cpu().numpy() if isinstance(feats, torch.Tensor) else np.asarray(feats)
                n = len(images[start : start + self.batch_size])
                if feats.ndim != 2 or feats.shape[0] != n:
                    raise ValueError(
                        f"The embedder {self.name!r} returned shape {feats.shape} for {n} images; it must return "
                        "(N, dim) features (pool and flatten them, and drop the classifier head)."
                    )
                chunks.append(feats)
        feats = np.concatenate(chunks).astype(np.float64)
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def digits_embedder(device: str | None = None) -> Embedder:
    """The bundled digits backbone (trained on classes 0-4) as an embedder: 32 x 32 RGB in [0, 1]."""
    from .backbone import load_digits_backbone

    model = load_digits_backbone()
    if device is not None:
        model.to(device)
    return Embedder(model, default_preprocess(32), name="genie-tiny-digits-backbone")


def torchvision_embedder(model: torch.nn.Module, transforms: Callable | None = None, name: str | None = None,
                         device: str | None = None) -> Embedder:  # fmt: skip
    """A torchvision classifier (your weights; nothing is downloaded) as an embedder: its head (`fc`, `classifier`
    or `heads`) is replaced by the identity, so it returns the pooled penultimate features. `transforms` is the
    weights' preprocessing (e.g. `ResNet18_Weights.DEFAULT.transforms()`), applied to each image."""
    for head in ("fc", "classifier", "heads", "head"):
        if hasattr(model, head):
            setattr(model, head, torch.nn.Identity())
            break
    else:
        raise ValueError(f"{type(model).__name__} has no fc/classifier/heads attribute to remove; wrap it yourself.")
    if device is not None:
        model.to(device)
    to_tensor = default_preprocess()

    def preprocess(images: list) -> torch.Tensor:
        batch = to_tensor(images) if transforms is None else torch.stack([transforms(to_tensor([im])[0]) for im in images])
        return batch

    return Embedder(model, preprocess, name=name or type(model).__name__.lower())
