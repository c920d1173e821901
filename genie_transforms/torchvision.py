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

import functools
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
    raise ImportError(
        'genie_transforms.torchvision needs torchvision: pip install "genie-transforms[torchvision]"'
    ) from err

from .generator import GenieGenerator
from .labels import as_vector
from .prompts import PromptMap
from .sources import TransformCore, make_source


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
        raise ValueError(NO_LABEL)
    return inputs[_label_key(inputs)]


NO_LABEL = (
    "GenieTransform got an image without its label: it changes the label with the image, so it needs both, as "
    "tf(image, label) or tf({'image': ..., 'label': ...}). A dataset's own transform= sees only the image "
    "(ImageFolder, DatasetFolder, CIFAR10 ...): leave it out there and wrap the dataset instead, "
    "TransformedDataset(ImageFolder(root), v2.Compose([GenieTransform(...), ...])); for a Hugging Face dataset, "
    "ds.set_transform(BatchTransform(v2.Compose([...])))."
)


def _label_key(sample: Mapping) -> Any:
    keys = [k for k in sample if isinstance(k, str)]
    for key in keys:
        if key.lower() == "labels":
            return key
    for key in keys:
        if "label" in key.lower():
            return key
    raise ValueError(f"No label-like key in the sample's keys {list(sample)}; pass labels_getter=callable.")


def resize(
    image: np.ndarray,
    size: tuple[int, int],
    interpolation: v2.InterpolationMode | int | str = v2.InterpolationMode.BILINEAR,
) -> np.ndarray:
    """torchvision's own resize (`v2.functional.resize`, antialiased, as `v2.Resize` does it) on an HWC uint8 array:
    how a bank image is fitted to a sample."""
    chw = torch.from_numpy(np.require(image, requirements="W")).permute(2, 0, 1)  # torch wants writable memory
    return v2.functional.resize(chw, list(size), interpolation=interpolation, antialias=True).permute(1, 2, 0).numpy()


def is_pure_tensor(x: Any) -> bool:
    """A plain tensor (not a tv_tensor), as torchvision calls it."""
    return isinstance(x, torch.Tensor) and not isinstance(x, tv_tensors.TVTensor)


DENSE_TYPES = tuple(
    getattr(tv_tensors, name) for name in ("Mask", "BoundingBoxes", "KeyPoints") if hasattr(tv_tensors, name)
)


def find_image(flat: list[Any], exclude: Any = None) -> int | None:
    """Which item of a flattened sample is the image, by torchvision's own rule: a `tv_tensors.Image` or PIL image
    if the sample has one (plain tensors then pass through untouched), else the first plain tensor."""
    explicit = [
        i for i, x in enumerate(flat) if isinstance(x, (tv_tensors.Image, PIL.Image.Image)) and x is not exclude
    ]
    if explicit:
        return explicit[0]
    if any(isinstance(x, tv_tensors.Video) for x in flat):
        return None
    plain = [i for i, x in enumerate(flat) if is_pure_tensor(x) and x is not exclude and x.ndim >= 2]
    return plain[0] if plain else None


class GenieTransform(v2.Transform):
    """Replace the image with a GeNIe hard negative of a contrasting class and set the label to that class.

    Works on PIL images and CHW tensors (plain or `tv_tensors.Image`), and on batches ((N, C, H, W) tensors or
    images with leading dimensions, labels of shape (N,): one draw per sample), in `(image, label)` tuples, dicts
    and `tv_tensors` samples, inside `v2.Compose` and in `DataLoader` workers. The image is found as torchvision
    finds it (a `tv_tensors.Image` or PIL image first; plain tensors pass through then). Randomness comes from
    torch's generator, as in every torchvision transform (`torch.manual_seed` makes it reproducible); the last
    draw is kept in `last_draw` (a list for a batch).

    Args:
        bank (`datasets.Dataset` or `str`, *optional*): precomputed hard negatives (recommended: O(1) draws).
        generator (`GenieGenerator` or `str`, *optional*): online generation (GPU-bound).
        prompts (`PromptMap`, list or dict, *optional*): class names; required online.
        noise_ratio (`float`, defaults to 0.8): r of online generation.
        strategy (`str` or `dict`, *optional*): `"random_k:1"` by default; target strategy of online generation.
        p (`float`, defaults to 0.5): probability of applying (per sample).
        labels_getter (`"default"` or callable, defaults to `"default"`): finds the label in a sample; a callable
            must return the label object held in the sample (it is replaced by identity).
        label_mode (`str`, defaults to `"hard"`): `"hard"` (the target, in the label's own type), `"onehot"` or
            `"soft"` (float tensors; compose with `v2.MixUp` / `v2.CutMix` afterwards). With a vector mode, end the
            pipeline with [`EncodeLabel`] so that every sample leaves with a vector.
        num_classes (`int`, *optional*), classes (list of `str`, *optional*): the task's classes, checked against
            the bank / prompt map at construction.
        unserved (`str`, defaults to `"error"`): task classes the bank has no negative for are refused at
            construction, or (`"pass"`) their samples pass through unchanged.
        allow_dense_targets (`bool`, defaults to `False`): masks, boxes and keypoints describe the original image,
            so they are refused unless you opt in.
        interpolation (`InterpolationMode`, defaults to `InterpolationMode.BILINEAR`): how a bank image of another
            size than the sample is resized to it, as in `v2.Resize` (antialiased; PIL's integer constants are
            accepted too).
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
        num_classes: int | None = None,
        classes: Sequence[str] | None = None,
        unserved: str = "error",
        allow_dense_targets: bool = False,
        interpolation: v2.InterpolationMode | int | str = v2.InterpolationMode.BILINEAR,
    ) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"`p` should be in [0, 1], got {p!r}.")
        if labels_getter != "default" and not callable(labels_getter):
            raise ValueError(f"`labels_getter` must be 'default' or a callable, got {labels_getter!r}.")
        try:  # torchvision's own check, at construction (it raises KeyError for an unknown integer)
            resize(np.zeros((1, 1, 3), np.uint8), (2, 2), interpolation)
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"`interpolation` must be a torchvision InterpolationMode (e.g. InterpolationMode.BILINEAR) or "
                f"one of Pillow's integer constants (0 to 5), got {interpolation!r}."
            ) from None
        self.interpolation = interpolation
        fit = functools.partial(resize, interpolation=interpolation)
        self.core = TransformCore(
            make_source(generator, bank, prompts, noise_ratio, strategy, fit),
            label_mode,
            num_classes,
            classes,
            unserved,
        )
        self.source = self.core.source
        self.p = p
        self.labels_getter = labels_getter
        self.label_mode = label_mode
        self.allow_dense_targets = allow_dense_targets
        self.last_draw: Any = None

    def extra_repr(self) -> str:
        bank, generator = getattr(self.source, "bank", None), getattr(self.source, "generator", None)
        if bank is not None:
            what = f"bank=<{len(bank)} rows>"
        elif generator is not None:
            what = f"generator={generator.model_id!r}"
        else:
            what = f"bank=<{self.source.kind} source {type(self.source).__name__}>"
        return f"{what}, p={self.p}, label_mode={self.label_mode!r}"

    def forward(self, *inputs: Any) -> Any:
        sample = inputs if len(inputs) > 1 else inputs[0]
        label = _getter(self.labels_getter)(sample)
        if label is None:
            raise ValueError(NO_LABEL)
        flat, spec = tree_flatten(sample)
        if not self.allow_dense_targets and any(isinstance(x, DENSE_TYPES) for x in flat):
            raise ValueError(
                "GenieTransform replaces the whole image, so the masks, boxes or keypoints in this sample would "
                "describe another picture. GeNIe is for classification; pass allow_dense_targets=True to opt in."
            )
        pos = find_image(flat, exclude=label)
        if pos is None:
            raise ValueError("GenieTransform found no image (PIL, tv_tensors.Image or CHW tensor) in the sample.")
        image = flat[pos]
        batched = isinstance(image, torch.Tensor) and image.ndim >= 4
        if batched:
            new_image, new_label = self._batch(image, label)
        else:
            source_label = self.core.read(label)
            draw = self._draw(source_label)
            new_image, new_label = image, self.core.label_out(label, draw)
            if draw is not None:
                plain = image.as_subclass(torch.Tensor) if isinstance(image, tv_tensors.Image) else image
                (new_image,) = self.source.images([plain], [draw])
                if isinstance(image, tv_tensors.Image):
                    new_image = tv_tensors.wrap(new_image, like=image)
            self.last_draw = draw
            if isinstance(new_label, np.ndarray):
                new_label = torch.from_numpy(new_label)
        flat[pos] = new_image
        return self._set_label(tree_unflatten(flat, spec), label, new_label)

    def _draw(self, source_label: int) -> dict[str, Any] | None:
        if self.p <= 0 or (self.p < 1 and torch.rand(1).item() >= self.p):
            return None
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
        return self.core.draw(source_label, rng)

    def _batch(self, images: torch.Tensor, labels: Any) -> tuple[torch.Tensor, Any]:
        """One draw per sample of an (..., N, C, H, W) batch with labels of shape (N,)."""
        lead = images.shape[:-3]
        flat_images = images.reshape(-1, *images.shape[-3:])
        if getattr(labels, "ndim", None) == 0 or not isinstance(labels, (torch.Tensor, Sequence, np.ndarray)):
            raise ValueError(
                f"The batch has {len(flat_images)} images but one label ({labels!r}); give one label per image: a "
                "sequence or a tensor of shape (N,)."
            )
        values = labels.reshape(-1) if isinstance(labels, torch.Tensor) else list(labels)
        if len(values) != len(flat_images):
            raise ValueError(
                f"The batch has {len(flat_images)} images but {len(values)} labels; give one label per "
                "image (shape (N,))."
            )
        sources = [self.core.read(v, f"label {i}") for i, v in enumerate(values)]
        draws = [self._draw(s) for s in sources]
        plain = flat_images.as_subclass(torch.Tensor).clone()
        applied = [i for i, d in enumerate(draws) if d is not None]
        chosen: list[dict[str, Any]] = [d for d in draws if d is not None]
        for i, new in zip(applied, self.source.images([plain[i] for i in applied], chosen)):
            plain[i] = new
        out = plain.reshape(*lead, *images.shape[-3:])
        if isinstance(images, tv_tensors.Image):
            out = tv_tensors.wrap(out, like=images)
        self.last_draw = draws
        if self.label_mode == "hard":
            new_labels = labels.clone() if isinstance(labels, torch.Tensor) else list(labels)
            for i, draw in zip(applied, chosen):
                new_labels[i] = draw["target"]
            kind: Any = type(labels)
            return out, new_labels if isinstance(labels, torch.Tensor) else kind(new_labels)
        vectors = [
            self.core.label_out(None, d) if d is not None else as_vector(v, self.core.num_classes)
            for v, d in zip(values, draws)
        ]
        return out, torch.from_numpy(np.stack(vectors))

    def _set_label(self, inputs: Any, old: Any, new: Any) -> Any:
        return set_label(inputs, old, new, self.labels_getter)


def _getter(labels_getter: str | Callable[[Any], Any]) -> Callable[[Any], Any]:
    return default_labels_getter if isinstance(labels_getter, str) else labels_getter


def set_label(inputs: Any, old: Any, new: Any, labels_getter: Any = "default") -> Any:
    """The sample with its label replaced: by position for the default getter, by identity for a callable."""
    if labels_getter == "default":
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


class EncodeLabel(v2.Transform):
    """The last step of a pipeline whose labels must all be vectors (with `label_mode="onehot"` or `"soft"`): a
    class index becomes its one-hot float32 tensor (a batch of N indices an (N, num_classes) tensor), a vector is
    kept. Samples that skipped GenieTransform (inside `RandomApply`, `RandomChoice` ...) then collate with the others.

    Args:
        num_classes (`int`): the number of classes.
        labels_getter (`"default"` or callable): as for [`GenieTransform`].
    """

    def __init__(self, num_classes: int, labels_getter: str | Callable[[Any], Any] = "default") -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}.")
        self.num_classes, self.labels_getter = num_classes, labels_getter

    def forward(self, *inputs: Any) -> Any:
        sample = inputs if len(inputs) > 1 else inputs[0]
        label = _getter(self.labels_getter)(sample)
        if isinstance(label, torch.Tensor) and label.ndim == 1 and not label.is_floating_point():
            vector = torch.from_numpy(np.stack([as_vector(v, self.num_classes) for v in label]))
        elif isinstance(label, torch.Tensor) and label.ndim == 2 and label.is_floating_point():
            vector = label
        else:
            vector = torch.from_numpy(as_vector(label, self.num_classes))
        return set_label(sample, label, vector, self.labels_getter)


class TransformedDataset(torch.utils.data.Dataset):
    """A map-style dataset of `(image, label)` samples with `transforms(image, label)` applied to each: how a
    `GenieTransform` sees the label when the dataset's own `transform=` sees only the image (`ImageFolder`,
    `DatasetFolder`, `CIFAR10` ...). It pickles with the dataset and the transforms, so it works with `DataLoader`
    workers.

    Args:
        dataset (`torch.utils.data.Dataset`): gives `(image, label)` tuples (or dicts) by index; build it without
            `transform=`.
        transforms (`Callable`): called as `transforms(image, label)` (a `v2.Compose` holding a `GenieTransform`);
            for a dict sample, `transforms(sample)`.

    Examples:
        >>> from torchvision.datasets import ImageFolder
        >>> train = TransformedDataset(ImageFolder("photos"), v2.Compose([GenieTransform(bank=bank), v2.RandomResizedCrop(224)]))  # doctest: +SKIP
        >>> image, label = train[0]  # doctest: +SKIP
    """

    def __init__(self, dataset: Any, transforms: Callable[..., Any]) -> None:
        if not callable(transforms):
            raise TypeError(f"`transforms` must be callable, e.g. a v2.Compose; got {type(transforms).__name__}.")
        self.dataset, self.transforms = dataset, transforms

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        sample = self.dataset[index]
        if isinstance(sample, Mapping):
            return self.transforms(sample)
        if not isinstance(sample, (tuple, list)) or len(sample) < 2:
            raise ValueError(
                f"TransformedDataset needs (image, label) samples, but item {index} is a {type(sample).__name__}."
            )
        return self.transforms(*sample)


class BatchTransform:
    """A function for a Hugging Face dataset's `set_transform` / `with_transform`: applies a per-sample transform to
    each (image, label) row of the batch, so a `GenieTransform` in it sees and changes the label. It pickles, so the
    dataset still works with `DataLoader` workers.

    Args:
        transforms (`Callable`): called as `transforms(image, label)`, e.g. a `v2.Compose` holding a `GenieTransform`.
        image_column (`str`, defaults to `"image"`), label_column (`str`, defaults to `"label"`): the columns.

    Examples:
        >>> ds.set_transform(BatchTransform(v2.Compose([v2.PILToTensor(), GenieTransform(bank=bank)])))  # doctest: +SKIP
        >>> ds[0]["image"], ds[0]["label"]  # doctest: +SKIP
    """

    def __init__(self, transforms: Callable[..., Any], image_column: str = "image", label_column: str = "label"):
        if not callable(transforms):
            raise TypeError(f"`transforms` must be callable, e.g. a v2.Compose; got {type(transforms).__name__}.")
        self.transforms, self.image_column, self.label_column = transforms, image_column, label_column

    def __call__(self, batch: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
        for column in (self.image_column, self.label_column):
            if column not in batch:
                raise KeyError(
                    f"BatchTransform reads the columns {self.image_column!r} and {self.label_column!r}, but the batch "
                    f"has {list(batch)}; pass image_column= and label_column=."
                )
        pairs = [self.transforms(x, y) for x, y in zip(batch[self.image_column], batch[self.label_column])]
        return {
            **batch,
            self.image_column: [image for image, _ in pairs],
            self.label_column: [label for _, label in pairs],
        }


__all__ = [
    "BatchTransform",
    "EncodeLabel",
    "GenieTransform",
    "TransformedDataset",
    "default_labels_getter",
    "find_image",
    "resize",
]
