"""`GenieTransform` for Albumentations 2.x pipelines: replaces the image with a hard negative and changes the label.

Supported: the MIT Albumentations releases 2.0.3 to 2.0.8 (tested on both ends). AlbumentationsX, which also
imports as `albumentations`, is refused with a clear `ImportError`.

Examples:
    >>> import albumentations as A
    >>> from genie_transforms.albumentations import EncodeLabel, GenieTransform
    >>> aug = A.Compose([GenieTransform(bank="runs/genie/dataset", p=0.5), A.HorizontalFlip()], seed=0)
    >>> out = aug(image=image, label=3)          # doctest: +SKIP
    >>> out["image"], out["label"]               # a hard negative and its target class, half of the time
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

ALBUMENTATIONS_RANGE = ("2.0.3", "2.0.8")


def _check_albumentations() -> str:
    """The installed Albumentations, refused clearly when it is AlbumentationsX or outside the supported range."""
    try:
        import albumentations
    except ImportError as err:
        raise ImportError(
            'genie_transforms.albumentations needs Albumentations: pip install "genie-transforms[albumentations]"'
        ) from err
    version = getattr(albumentations, "__version__", "0")
    try:
        x_version = importlib.metadata.version("albumentationsx")
    except importlib.metadata.PackageNotFoundError:
        x_version = None
    from packaging.version import Version

    if x_version is not None or Version(version) >= Version("2.1"):
        raise ImportError(
            f"genie_transforms.albumentations supports the MIT Albumentations {ALBUMENTATIONS_RANGE[0]} to "
            f"{ALBUMENTATIONS_RANGE[1]}, but AlbumentationsX {x_version or version} is installed (it also imports as "
            "`albumentations`, with other transform hooks). Use genie_transforms.torchvision, or a virtual "
            f"environment with pip install 'albumentations>={ALBUMENTATIONS_RANGE[0]},<2.1'; do not install the "
            "[albumentations] extra over AlbumentationsX (both write the same package folder)."
        )
    if Version(version) < Version(ALBUMENTATIONS_RANGE[0]):
        raise ImportError(
            f"genie_transforms.albumentations needs Albumentations >= {ALBUMENTATIONS_RANGE[0]}, found "
            f"{version}: pip install 'albumentations>={ALBUMENTATIONS_RANGE[0]},<2.1'"
        )
    return version


_check_albumentations()

import cv2
from albumentations.augmentations.geometric import functional as fgeometric
from albumentations.core.transforms_interface import BaseTransformInitSchema, ImageOnlyTransform
from pydantic import Field

from .generator import GenieGenerator
from .labels import as_vector
from .prompts import PromptMap
from .sources import HardNegativeSource, TransformCore, make_source

DENSE_KEYS = ("mask", "masks", "bboxes", "keypoints", "volume", "mask3d", "masks3d")
# OpenCV's flags that `A.Resize` accepts: INTER_NEAREST, INTER_LINEAR, INTER_CUBIC, INTER_AREA, INTER_LANCZOS4,
# INTER_LINEAR_EXACT, INTER_NEAREST_EXACT (written as numbers so that type checkers read them as literals)
Interpolation = Literal[0, 1, 2, 3, 4, 5, 6]


def resize(image: np.ndarray, size: tuple[int, int], interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Albumentations' own resize (OpenCV), as `A.Resize` does it: how a bank image is fitted to a sample."""
    return fgeometric.resize(image, size, interpolation)


class GenieTransform(ImageOnlyTransform):
    """Replace the image with a GeNIe hard negative of a contrasting class and set the label to that class.

    The label is read from and written to the key `label_key` (default `"label"`) of the data you pass to
    `Compose`, declared to Albumentations (`targets_as_params`), so strict mode accepts it. With `p`, the transform
    is applied to that fraction of samples, and the label changes exactly when the image does; when it does not
    apply, the label comes back as it went in. Randomness comes only from the transform's own generators, so
    `A.Compose(..., seed=s)` makes it reproducible (see [`reseed_worker`] for DataLoader workers).

    Args:
        bank (`datasets.Dataset` or `str`, *optional*):
            Precomputed hard negatives (from `generate_hard_negatives` or `genie generate`), or the path of one.
            A negative whose `source_label` is the sample's label is drawn in O(1): training speed is unchanged.
            The recommended mode.
        generator (`GenieGenerator`, `str` or `dict`, *optional*):
            Online mode: a generator, or a model id / path (loaded lazily). One generation per applied sample:
            GPU-bound.
        prompts (`PromptMap`, list of names or dict, *optional*):
            Class names by label; required in online mode and checked at construction.
        noise_ratio (`float`, defaults to 0.8): r of online generation.
        strategy (`str` or `dict`, *optional*): `"random_k:1"` by default; target strategy of online generation (see
            `genie_transforms.targets`; named `strategy` since Albumentations reserves `targets`).
        label_key (`str`, defaults to `"label"`): the data key holding the label.
        label_mode (`str`, defaults to `"hard"`): `"hard"` (the target, in the label's own type), `"onehot"` or
            `"soft"` (float vectors; `"soft"` puts `1 - r` on the source and `r` on the target). With a vector mode,
            end the pipeline with [`EncodeLabel`] so that every sample leaves with a vector.
        num_classes (`int`, *optional*): the task's number of classes, checked against the bank / prompt map.
        classes (list of `str`, *optional*): the task's class names in label order (checked likewise).
        unserved (`str`, defaults to `"error"`): task classes the bank has no negative for are refused at
            construction (`"error"`) or their samples pass through unchanged (`"pass"`).
        allow_dense_targets (`bool`, defaults to `False`): masks, boxes and keypoints describe the original image,
            not the hard negative, so they are refused unless you opt in.
        interpolation (OpenCV flag, defaults to `cv2.INTER_LINEAR`): how a bank image of another size than the
            sample is resized to it, as in `A.Resize` (Albumentations' own resize).
        p (`float`, defaults to 0.5): probability of applying.
    """

    class InitSchema(BaseTransformInitSchema):
        bank: Any = None
        generator: Any = None
        prompts: Any = None
        noise_ratio: float = Field(default=0.8, gt=0, le=1)
        strategy: str | dict[str, Any] = "random_k:1"
        label_key: str = "label"
        label_mode: Literal["hard", "onehot", "soft"] = "hard"
        num_classes: int | None = None
        classes: list[str] | None = None
        unserved: Literal["error", "pass"] = "error"
        allow_dense_targets: bool = False
        interpolation: Interpolation = 1  # cv2.INTER_LINEAR

    def __init__(
        self,
        bank: Any = None,
        generator: GenieGenerator | str | Mapping[str, Any] | None = None,
        prompts: PromptMap | Sequence[str] | Mapping[Any, str] | None = None,
        noise_ratio: float = 0.8,
        strategy: str | dict[str, Any] = "random_k:1",
        label_key: str = "label",
        label_mode: Literal["hard", "onehot", "soft"] = "hard",
        num_classes: int | None = None,
        classes: Sequence[str] | None = None,
        unserved: Literal["error", "pass"] = "error",
        allow_dense_targets: bool = False,
        interpolation: int = cv2.INTER_LINEAR,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        if isinstance(prompts, Mapping) and "names" in prompts and "template" in prompts:
            prompts = PromptMap.from_dict(prompts)  # from to_dict()
        fit = functools.partial(resize, interpolation=interpolation)
        self.core = TransformCore(
            make_source(generator, bank, prompts, noise_ratio, strategy, fit),
            label_mode,
            num_classes,
            classes,
            unserved,
        )
        self.source = self.core.source
        self.bank, self.generator, self.prompts = bank, generator, prompts
        self.noise_ratio, self.strategy = noise_ratio, strategy
        self.label_key, self.label_mode = label_key, label_mode
        self.num_classes, self.classes, self.unserved = (
            num_classes,
            None if classes is None else list(classes),
            unserved,
        )
        self.allow_dense_targets = allow_dense_targets
        self.interpolation = interpolation

    @property
    def targets_as_params(self) -> list[str]:
        """The label is a data key this transform reads (strict mode and `Compose` know it from here)."""
        return [self.label_key]

    def __call__(self, *args: Any, force_apply: bool = False, **kwargs: Any) -> Any:
        if not args:
            self._check_data(kwargs)  # whether or not the transform applies
        return super().__call__(*args, force_apply=force_apply, **kwargs)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Draw the target (and which bank row, or which seed) from the transform's own random generator."""
        labels = data[self.label_key]
        if "images" in data and "image" not in data:
            return {
                "draws": [
                    self.core.draw(self.core.read(y, f"{self.label_key} of images[{i}]"), self.random_generator)
                    for i, y in enumerate(labels)
                ]
            }
        return {"draws": [self.core.draw(self.core.read(labels, self.label_key), self.random_generator)]}

    def _check_data(self, data: Mapping[str, Any]) -> None:
        if self.label_key not in data:
            raise ValueError(
                f"GenieTransform needs the label under the key {self.label_key!r}: call the pipeline as "
                f"aug(image=image, {self.label_key}=label), or set label_key. Where a dataset hands the transform "
                "only the image (ImageFolder's transform=), call the pipeline where the label is known instead: in "
                "your Dataset's __getitem__, or for a Hugging Face dataset in ds.set_transform(fn) with fn applying "
                "it to each (image, label) row of the batch."
            )
        labels = data[self.label_key]
        for label in labels if "images" in data and "image" not in data else [labels]:
            self.core.read(label, self.label_key)  # the label contract holds whether or not the transform applies
        dense = [k for k in DENSE_KEYS if _present(data.get(k))]
        if dense and not self.allow_dense_targets:
            raise ValueError(
                f"GenieTransform replaces the whole image, so the {dense} given beside it would describe another "
                "picture. GeNIe is for classification; pass allow_dense_targets=True only if that is what you want."
            )

    def apply(self, img: np.ndarray, draws: list[dict[str, Any] | None] | None = None, **params: Any) -> np.ndarray:
        if not draws or draws[0] is None:
            return img
        return self.source.images([img], [draws[0]])[0]

    def apply_to_images(
        self, images: np.ndarray, draws: list[dict[str, Any] | None] | None = None, **params: Any
    ) -> Any:
        draws = draws or [None] * len(images)
        if len(draws) != len(images):
            raise ValueError(f"`images` has {len(images)} images but the label has {len(draws)} entries.")
        out = list(images)
        applied = [i for i, d in enumerate(draws) if d is not None]
        chosen: list[dict[str, Any]] = [draws[i] for i in applied]  # type: ignore[misc]
        for i, image in zip(applied, self.source.images([images[i] for i in applied], chosen)):
            out[i] = image
        return np.stack(out) if isinstance(images, np.ndarray) else out

    def apply_with_params(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        draws = params["draws"]
        labels: Any = kwargs.get(self.label_key)
        batched = "images" in kwargs and "image" not in kwargs
        originals = list(labels) if batched else [labels]
        for original, draw in zip(originals, draws):  # a replayed draw must be for a sample of the same class
            if draw is not None and self.core.read(original, self.label_key) != draw["source_label"]:
                raise ValueError(
                    f"This GenieTransform draw was made for a sample of class {draw['source_label']}, but the sample "
                    f"is of class {self.core.read(original, self.label_key)}: replaying it would keep a target drawn "
                    "for another class. Replay only on samples of the same class."
                )
        result = super().apply_with_params(params, *args, **kwargs)
        new = [self.core.label_out(original, draw) for original, draw in zip(originals, draws)]
        result[self.label_key] = (
            (type(labels)(new) if isinstance(labels, (list, tuple)) else new) if batched else new[0]
        )
        return result

    def get_transform_init_args(self) -> dict[str, Any]:
        """Serialisable arguments: the model by id/path and the bank by path, never a pipeline or images."""
        if self.bank is not None and not isinstance(self.bank, str):
            if _called_for_repr():  # Compose's repr goes through the serialisation path: describe, do not refuse
                return self._init_args(_describe(self.bank))
            raise ValueError(
                f"This GenieTransform holds {_describe(self.bank)}; pass the bank as a path to serialise it."
            )
        return self._init_args(self.bank)

    def _init_args(self, bank: Any) -> dict[str, Any]:
        generator = self.generator.config if isinstance(self.generator, GenieGenerator) else self.generator
        return {
            "bank": bank,
            "generator": generator,
            "prompts": None if self.prompts is None else self.core.prompt_map().to_dict(),
            "noise_ratio": self.noise_ratio,
            "strategy": self.strategy,
            "label_key": self.label_key,
            "label_mode": self.label_mode,
            "num_classes": self.num_classes,
            "classes": self.classes,
            "unserved": self.unserved,
            "allow_dense_targets": self.allow_dense_targets,
            "interpolation": self.interpolation,
        }

    def __repr__(self) -> str:
        bank = self.bank if self.bank is None or isinstance(self.bank, str) else _describe(self.bank)
        args = {"p": self.p, **self._init_args(bank)}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in args.items() if k != 'prompts')})"


class EncodeLabel(ImageOnlyTransform):
    """The last step of a pipeline whose labels must all be vectors (with `label_mode="onehot"` or `"soft"`): a
    class index becomes its one-hot float32 vector, a vector is kept. Samples that skipped GenieTransform (inside
    `OneOf`, `SomeOf`, `OneOrOther`, a `Compose` with p < 1 ...) then collate with the others.

    Args:
        num_classes (`int`): the number of classes.
        label_key (`str`, defaults to `"label"`): the data key holding the label.
    """

    class InitSchema(BaseTransformInitSchema):
        num_classes: int = Field(ge=2)
        label_key: str = "label"

    def __init__(self, num_classes: int, label_key: str = "label", p: float = 1.0) -> None:
        super().__init__(p=p)
        self.num_classes, self.label_key = num_classes, label_key

    @property
    def targets_as_params(self) -> list[str]:
        return [self.label_key]

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        return img

    def apply_to_images(self, images: Any, **params: Any) -> Any:
        return images

    def apply_with_params(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        result = super().apply_with_params(params, *args, **kwargs)
        label = kwargs[self.label_key]
        if "images" in kwargs and "image" not in kwargs:
            result[self.label_key] = [as_vector(y, self.num_classes) for y in label]
        else:
            result[self.label_key] = as_vector(label, self.num_classes)
        return result

    def get_transform_init_args(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "label_key": self.label_key}


class reseed_worker:
    """A `DataLoader(worker_init_fn=...)` that gives the Albumentations pipeline of each worker its own seed.

    Under Albumentations 2.0.x, every worker's copy of an `A.Compose(..., seed=s)` draws the same sequence and every
    epoch repeats it. This reseeds the pipeline found at `dataset.<attribute>` in each worker with torch's worker
    seed (different per worker and per epoch, and reproducible under `torch.manual_seed`). It pickles, so it works
    under the spawn start method (the default on macOS, Windows and Python 3.14).

    Examples:
        >>> loader = DataLoader(ds, num_workers=2, worker_init_fn=reseed_worker("transform"))  # doctest: +SKIP
    """

    def __init__(self, attribute: str = "transform") -> None:
        self.attribute = attribute

    def __call__(self, worker_id: int) -> None:
        import torch.utils.data

        info = torch.utils.data.get_worker_info()
        if info is None:
            raise RuntimeError("reseed_worker's function runs in DataLoader workers only (worker_init_fn=...).")
        pipeline: Any = getattr(info.dataset, self.attribute, None)
        if not hasattr(pipeline, "set_random_seed"):
            raise ValueError(
                f"The dataset has no Albumentations pipeline at `.{self.attribute}`; pass reseed_worker(name)."
            )
        pipeline.set_random_seed(info.seed % 2**32)


def _describe(bank: Any) -> str:
    """An in-memory bank or a source of your own, in a few words (for repr and messages)."""
    if isinstance(bank, HardNegativeSource):
        return f"<{bank.kind} source {type(bank).__name__}>"
    return f"<in-memory bank, {len(bank)} rows>"


def _called_for_repr(depth: int = 12) -> bool:
    """Whether this call comes from a `repr` (Albumentations' `Compose.__repr__` reuses `to_dict_private`)."""
    import sys

    frame: Any = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code.co_name in ("__repr__", "indented_repr", "__str__"):
            return True
        frame = frame.f_back
    return False


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        return len(value) > 0
    except TypeError:
        return True


__all__ = ["EncodeLabel", "GenieTransform", "reseed_worker", "resize"]
