"""`GenieTransform` for torchvision v2 pipelines: replaces the image with a hard negative and changes the label,
the way `MixUp` / `CutMix` change labels.

Examples:
    >>> from torchvision.transforms import v2
    >>> from genie_transforms.torchvision import GenieTransform
    >>> tf = v2.Compose([GenieTransform(bank="runs/genie/dataset", p=0.5), v2.RandomHorizontalFlip()])
    >>> image, label = tf(image, 3)              # doctest: +SKIP
    >>> sample = tf({"image": image, "label": 3})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import PIL.Image
import torch

try:
    from torch.utils._pytree import tree_flatten, tree_unflatten
    from torchvision import tv_tensors
    from torchvision.transforms import v2
except ImportError as err:
    raise ImportError('genie_transforms.torchvision needs torchvision: pip install "genie-transforms[torchvision]"') from err

from .generator import GenieGenerator
from .prompts import PromptMap
from .sources import check_label_mode, encode_label, make_source


def default_labels_getter(inputs: Any) -> Any:
    """The label of a sample: item 1 of a tuple `(image, label)`, or the `labels`/`label`-like key of a dict
    (also inside item 1 of a tuple), as torchvision's default heuristic; plain int labels are accepted."""
    if isinstance(inputs, (tuple, list)):
        if len(inputs) < 2:
            raise ValueError("A tuple sample must be (image, label, ...); pass labels_getter for other layouts.")
        inputs = inputs[1]
        if not isinstance(inputs, Mapping):
            return inputs
    if not isinstance(inputs, Mapping):
        raise ValueError(
            "GenieTransform finds the label in a (image, label) tuple or a dict with a 'label' key; pass "
            "labels_getter=callable for other samples."
        )
    return inputs[_label_key(inputs)]


def _label_key(sample: Mapping) -> Any:
    keys = [k for k in sample if isinstance(k, str)]
    for key in keys:
        if key.lower() == "labels":
            return key
    for key in keys:
        if "label" in key.lower():
            return key
    raise ValueError(f"No label-like key in the sample's keys {list(sample)}; pass labels_getter=callable.")


def _is_image(x: Any) -> bool:
    return isinstance(x, (PIL.Image.Image, tv_tensors.Image)) or (
        isinstance(x, torch.Tensor) and type(x) is torch.Tensor and x.ndim == 3
    )


class GenieTransform(v2.Transform):
    """Replace the image with a GeNIe hard negative of a contrasting class and set the label to that class.

    Works on PIL images and CHW tensors (plain or `tv_tensors.Image`), in `(image, label)` tuples, dicts and
    `tv_tensors` samples, inside `v2.Compose` and in `DataLoader` workers. Randomness comes from torch's generator,
    as in every torchvision transform (`torch.manual_seed` makes it reproducible); the last draw is kept in
    `last_draw`.

    Args:
        bank (`datasets.Dataset` or `str`, *optional*): precomputed hard negatives (recommended: O(1) draws).
        generator (`GenieGenerator` or `str`, *optional*): online generation (GPU-bound).
        prompts (`PromptMap`, list or dict, *optional*): class names; required online.
        noise_ratio (`float`, defaults to 0.8): r of online generation.
        strategy (`str` or `dict`, defaults to `"random_k:1"`): target strategy of online generation.
        p (`float`, defaults to 0.5): probability of applying.
        labels_getter (`"default"` or callable, defaults to `"default"`): finds the label in a sample; a callable
            must return the label object held in the sample (it is replaced by identity).
        label_mode (`str`, defaults to `"hard"`): `"hard"` (int target), `"onehot"` or `"soft"` (float tensors;
            compose with `v2.MixUp` / `v2.CutMix` afterwards).
    """

    def __init__(
        self,
        bank: Any = None,
        generator: GenieGenerator | str | Mapping[str, Any] | None = None,
        prompts: PromptMap | Sequence[str] | Mapping[int, str] | None = None,
        noise_ratio: float = 0.8,
        strategy: str | dict[str, Any] = "random_k:1",
        p: float = 0.5,
        labels_getter: str | Callable[[Any], Any] = "default",
        label_mode: str = "hard",
    ) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"`p` should be in [0, 1], got {p}.")
        if labels_getter != "default" and not callable(labels_getter):
            raise ValueError(f"`labels_getter` must be 'default' or a callable, got {labels_getter!r}.")
        self.source = make_source(generator, bank, prompts, noise_ratio, strategy)
        self.p = p
        self.labels_getter = labels_getter
        self.label_mode = check_label_mode(label_mode)
        self.last_draw: dict[str, Any] | None = None

    def forward(self, *inputs: Any) -> Any:
        inputs = inputs if len(inputs) > 1 else inputs[0]
        label = (default_labels_getter if self.labels_getter == "default" else self.labels_getter)(inputs)
        source_label = _as_int(label)
        draw = None
        if self.p > 0 and (self.p >= 1 or torch.rand(1).item() < self.p):
            flat, spec = tree_flatten(inputs)
            pos = next((i for i, x in enumerate(flat) if _is_image(x) and x is not label), None)
            if pos is None:
                raise ValueError("GenieTransform found no image (PIL, tv_tensors.Image or CHW tensor) in the sample.")
            rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
            draw = self.source.draw(source_label, rng)
            image = flat[pos]
            plain = image.as_subclass(torch.Tensor) if isinstance(image, tv_tensors.Image) else image
            (new,) = self.source.images([plain], [draw])
            flat[pos] = tv_tensors.wrap(new, like=image) if isinstance(image, tv_tensors.Image) else new
            inputs = tree_unflatten(flat, spec)
        self.last_draw = draw
        return self._set_label(inputs, label, self._label(source_label, draw, like=label))

    def _set_label(self, inputs: Any, old: Any, new: Any) -> Any:
        """The sample with its label replaced: by position for the default getter, by identity for a callable."""
        if self.labels_getter == "default":
            if isinstance(inputs, Mapping):
                return {**inputs, _label_key(inputs): new}
            item = inputs[1]
            item = {**item, _label_key(item): new} if isinstance(item, Mapping) else new
            return type(inputs)([inputs[0], item, *inputs[2:]])
        flat, spec = tree_flatten(inputs)
        pos = next((i for i, x in enumerate(flat) if x is old), None)
        if pos is None:
            raise ValueError("The label returned by labels_getter is not an object held in the sample.")
        flat[pos] = new
        return tree_unflatten(flat, spec)

    def _label(self, source_label: int, draw: dict[str, Any] | None, like: Any) -> Any:
        target = None if draw is None else draw["target"]
        value = encode_label(source_label, target, 0.0 if draw is None else draw["noise_ratio"], self.label_mode,
                             self.source.num_classes)  # fmt: skip
        if isinstance(value, np.ndarray):
            return torch.from_numpy(value)
        if isinstance(like, torch.Tensor):
            return torch.tensor(value, dtype=like.dtype)
        return value


def _as_int(label: Any) -> int:
    if isinstance(label, torch.Tensor) and label.numel() == 1:
        return int(label.item())
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return int(label)
    raise ValueError(f"GenieTransform needs one int class index as the label, got {label!r}.")


__all__ = ["GenieTransform", "default_labels_getter"]
