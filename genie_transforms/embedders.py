"""Feature extractors for GeNIe-Ada and evaluation: the classifier's own view of an image, L2-normalised."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
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

    @property
    def identity(self) -> str | None:
        """The hash of the model's weights (`weights:sha256:...`), so that retrained weights under the same name are
        another embedder; None for a model that is not a `torch.nn.Module`."""
        from .loading import weights_identity

        module = self.model.model if isinstance(self.model, _PooledFeatures) else self.model
        return weights_identity(module) if isinstance(module, torch.nn.Module) else None

    def __call__(self, images: Sequence[Any]) -> np.ndarray:
        images = list(images)
        if not images:
            raise ValueError("Embedder got no images.")
        chunks = []
        module = self.model if isinstance(self.model, torch.nn.Module) else None
        was_training = module is not None and module.training
        if module is not None:
            module.eval()  # for this call only: the caller's mode is restored
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
        if module is not None:
            module.train(was_training)
        feats = np.concatenate(chunks).astype(np.float64)
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def digits_embedder(device: str | None = None) -> Embedder:
    """The bundled digits backbone (trained on classes 0-4) as an embedder: 32 x 32 RGB in [0, 1]."""
    from .digits.assets import BACKBONE_DIR

    return _bundled_backbone(BACKBONE_DIR, "genie-tiny-digits-backbone", device)


def context_embedder(device: str | None = None) -> Embedder:
    """The context world's backbone (trained on classes 0-4 over random contexts, its features carry both the
    digit and the context) as an embedder: 32 x 32 RGB in [0, 1]."""
    from .digits.assets import CONTEXT_BACKBONE_DIR

    return _bundled_backbone(CONTEXT_BACKBONE_DIR, "genie-tiny-context-backbone", device)


def _bundled_backbone(folder: Path, name: str, device: str | None) -> Embedder:
    from .digits import load_digits_backbone

    model = load_digits_backbone(folder)
    if device is not None:
        model.to(device)
    return Embedder(model, default_preprocess(32), name=name)


HEADS = ("fc", "classifier", "heads", "head")


class _PooledFeatures:
    """A classifier seen as a feature extractor without touching it: the input of its head (`fc`, `classifier`,
    `heads` or `head`) is captured by a forward hook that lives for one call, and the model runs in eval mode for
    that call (its previous mode is restored)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.head = next(
            (getattr(model, name) for name in HEADS if isinstance(getattr(model, name, None), torch.nn.Module)), None
        )
        if self.head is None:
            raise ValueError(f"{type(model).__name__} has no fc/classifier/heads/head module; wrap it yourself.")
        self.model = model

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        head: Any = self.head
        hook = head.register_forward_hook(lambda module, args, out: captured.append(args[0]))
        was_training = self.model.training
        self.model.eval()
        try:
            self.model(batch)
        finally:
            hook.remove()
            self.model.train(was_training)
        return captured[0].flatten(1)


def torchvision_embedder(
    model: torch.nn.Module, transforms: Callable | None = None, name: str | None = None, device: str | None = None
) -> Embedder:
    """A torchvision classifier (your weights; nothing is downloaded) as an embedder: the pooled penultimate
    features, i.e. the input of its head (`fc`, `classifier`, `heads` or `head`). Your model is not modified (no
    head is replaced, its train/eval mode is kept); pass `device` only if it should be moved there. `transforms` is
    the weights' preprocessing (e.g. `ResNet18_Weights.DEFAULT.transforms()`), applied to each image."""
    features = _PooledFeatures(model)
    if device is not None:
        model.to(device)
    to_tensor = default_preprocess()

    def preprocess(images: list) -> torch.Tensor:
        return (
            to_tensor(images) if transforms is None else torch.stack([transforms(to_tensor([im])[0]) for im in images])
        )

    param = next(model.parameters(), None)
    return Embedder(
        features,
        preprocess,
        name=name or type(model).__name__.lower(),
        device=param.device if param is not None else "cpu",
    )


def load_classifier_weights(arch: str, weights: str | Path) -> torch.nn.Module:
    """A torchvision architecture with your trained weights (a safetensors state dict, e.g. written by
    `safetensors.torch.save_file(model.state_dict(), "w.safetensors")`). The classifier head may have any number of
    classes (a fine-tuned 10-class head is fine): it is sized from the file, since only the features are used."""
    import torchvision
    from safetensors.torch import load_file

    weights = Path(weights)
    if weights.suffix != ".safetensors" or not weights.is_file():
        raise ValueError(f"--embedder-weights must be an existing .safetensors file, got {str(weights)!r}.")
    state = load_file(weights)
    try:
        model = torchvision.models.get_model(arch, weights=None)
    except ValueError:
        raise ValueError(f"Unknown torchvision architecture {arch!r} (e.g. resnet18, resnet50, vit_b_16).") from None
    head = next(name for name in HEADS if hasattr(model, name))
    num_classes = _head_classes(state, head)
    if num_classes is not None:
        model = torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{weights.name} does not fit torchvision's {arch}: missing {missing[:5]}, unexpected {unexpected[:5]}. "
            "Save the state dict of the same architecture."
        )
    return model


def _head_classes(state: dict[str, torch.Tensor], head: str) -> int | None:
    """The number of classes of the last linear layer of `head` in a state dict (None when it has no head)."""
    biases = [k for k in state if (k.startswith(f"{head}.") and k.endswith(".bias")) or k == f"{head}.bias"]
    return int(state[sorted(biases)[-1]].shape[0]) if biases else None


def embedder_from_spec(spec: str, weights: str | Path | None = None, device: str | None = None) -> Embedder:
    """An embedder from the command line's spec: `genie-tiny-digits` or `genie-tiny-context` (bundled) or
    `torchvision:ARCH` with a safetensors weights file (nothing is downloaded)."""
    if spec == "genie-tiny-digits":
        return digits_embedder(device)
    if spec == "genie-tiny-context":
        return context_embedder(device)
    kind, _, arch = spec.partition(":")
    if kind != "torchvision" or not arch:
        raise ValueError(
            f"Unknown embedder {spec!r}; use genie-tiny-digits, genie-tiny-context or torchvision:ARCH (e.g. torchvision:resnet50)."
        )
    if weights is None:
        raise ValueError(f"--embedder {spec} needs --embedder-weights FILE.safetensors (nothing is downloaded).")
    import torchvision

    model = load_classifier_weights(arch, weights)
    transforms = torchvision.models.get_model_weights(arch).DEFAULT.transforms()
    return torchvision_embedder(model, transforms, name=f"{arch}:{Path(weights).name}", device=device)


__all__ = [
    "HEADS",
    "Embedder",
    "context_embedder",
    "default_preprocess",
    "digits_embedder",
    "embedder_from_spec",
    "load_classifier_weights",
    "torchvision_embedder",
]
