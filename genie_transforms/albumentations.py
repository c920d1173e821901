"""`GenieTransform` for Albumentations 2.x pipelines: replaces the image with a hard negative and changes the label.

Examples:
    >>> import albumentations as A
    >>> from genie_transforms.albumentations import GenieTransform
    >>> aug = A.Compose([GenieTransform(bank="runs/genie/dataset", p=0.5), A.HorizontalFlip()], seed=0)
    >>> out = aug(image=image, label=3)          # doctest: +SKIP
    >>> out["image"], out["label"]               # a hard negative and its target class, half of the time
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

try:
    from albumentations.core.transforms_interface import BaseTransformInitSchema, ImageOnlyTransform
    from pydantic import Field
except ImportError as err:
    raise ImportError(
        'genie_transforms.albumentations needs Albumentations: pip install "genie-transforms[albumentations]"'
    ) from err

from .generator import GenieGenerator
from .prompts import PromptMap
from .sources import encode_label, make_source


class GenieTransform(ImageOnlyTransform):
    """Replace the image with a GeNIe hard negative of a contrasting class and set the label to that class.

    The label is read from and written to the key `label_key` (default `"label"`) of the data you pass to
    `Compose`. With `p`, the transform is applied to that fraction of samples, and the label changes exactly
    when the image does. Randomness comes only from the transform's own generators, so `A.Compose(..., seed=s)`
    makes it reproducible.

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
        strategy (`str` or `dict`, defaults to `"random_k:1"`): target strategy of online generation (see
            `genie_transforms.targets`; named `strategy` since Albumentations reserves `targets`).
        label_key (`str`, defaults to `"label"`): the data key holding the label.
        label_mode (`str`, defaults to `"hard"`): `"hard"` (int target), `"onehot"` or `"soft"` (float vectors;
            `"soft"` puts `1 - r` on the source and `r` on the target).
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

    def __init__(
        self,
        bank: Any = None,
        generator: GenieGenerator | str | Mapping[str, Any] | None = None,
        prompts: PromptMap | Sequence[str] | Mapping[Any, str] | None = None,
        noise_ratio: float = 0.8,
        strategy: str | dict[str, Any] = "random_k:1",
        label_key: str = "label",
        label_mode: Literal["hard", "onehot", "soft"] = "hard",
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        if isinstance(prompts, Mapping) and "names" in prompts and "template" in prompts:
            prompts = PromptMap.from_dict(prompts)  # from to_dict()
        self.source = make_source(generator, bank, prompts, noise_ratio, strategy)
        self.bank, self.generator, self.prompts = bank, generator, prompts
        self.noise_ratio, self.strategy = noise_ratio, strategy
        self.label_key, self.label_mode = label_key, label_mode

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Draw the target (and which bank row, or which seed) from the transform's own random generator."""
        if self.label_key not in data:
            raise ValueError(
                f"GenieTransform needs the label under the key {self.label_key!r}: call the pipeline as "
                f"aug(image=image, {self.label_key}=label), or set label_key."
            )
        label = data[self.label_key]
        if "images" in data and "image" not in data:
            return {"draws": [self.source.draw(_as_int(y, self.label_key), self.random_generator) for y in label]}
        return {"draws": [self.source.draw(_as_int(label, self.label_key), self.random_generator)]}

    def apply(self, img: np.ndarray, draws: list[dict[str, Any]] | None = None, **params: Any) -> np.ndarray:
        return self.source.images([img], draws)[0]

    def apply_to_images(self, images: np.ndarray, draws: list[dict[str, Any]] | None = None, **params: Any) -> Any:
        if len(draws) != len(images):
            raise ValueError(f"`images` has {len(images)} images but the label has {len(draws)} entries.")
        out = self.source.images(list(images), draws)
        return np.stack(out) if isinstance(images, np.ndarray) else out

    def apply_with_params(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        result = super().apply_with_params(params, *args, **kwargs)
        labels = [self._label(d["source_label"], d["target"], d["noise_ratio"]) for d in params["draws"]]
        result[self.label_key] = labels if "images" in kwargs and "image" not in kwargs else labels[0]
        return result

    def __call__(self, *args: Any, force_apply: bool = False, **kwargs: Any) -> Any:
        result = super().__call__(*args, force_apply=force_apply, **kwargs)
        if not self.params and self.label_mode != "hard" and self.label_key in result:  # not applied
            label = result[self.label_key]
            if isinstance(label, (list, tuple)):
                result[self.label_key] = [self._label(_as_int(y, self.label_key), None, 0.0) for y in label]
            else:
                result[self.label_key] = self._label(_as_int(label, self.label_key), None, 0.0)
        return result

    def _label(self, source_label: int, target: int | None, noise_ratio: float) -> Any:
        return encode_label(source_label, target, noise_ratio, self.label_mode, self.source.num_classes)

    def get_transform_init_args(self) -> dict[str, Any]:
        """Serialisable arguments: the model by id/path and the bank by path, never a pipeline or images."""
        bank = self.bank
        if bank is not None and not isinstance(bank, str):
            raise ValueError("This GenieTransform holds an in-memory bank; pass the bank as a path to serialise it.")
        generator = self.generator
        if isinstance(generator, GenieGenerator):
            generator = generator.config
        prompts = None if self.prompts is None else self.source.prompts.to_dict()
        return {
            "bank": bank,
            "generator": generator,
            "prompts": prompts,
            "noise_ratio": self.noise_ratio,
            "strategy": self.strategy,
            "label_key": self.label_key,
            "label_mode": self.label_mode,
        }


def _as_int(label: Any, key: str) -> int:
    try:
        return int(label)
    except (TypeError, ValueError):
        raise ValueError(f"The label under {key!r} must be an int class index, got {label!r}.") from None


__all__ = ["GenieTransform"]
