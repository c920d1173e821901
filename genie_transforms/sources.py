"""Where a transform's hard negatives come from: generated online, or drawn from a precomputed bank.

Both sources share one interface, used by the Albumentations and torchvision adapters alike:
`draw(label, rng) -> params` (small, JSON-friendly values; no images) and `images(sources, params) -> images`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .generator import GenieGenerator, check_noise_ratio
from .images import restore, to_rgb
from .prompts import PromptMap
from .targets import TargetStrategy, get_strategy

BANK_COLUMNS = ("image", "label", "source_label")
LABEL_MODES = ("hard", "onehot", "soft")


def as_generator(generator: GenieGenerator | str | Mapping[str, Any]) -> GenieGenerator:
    """A `GenieGenerator` from itself, a model id/path, or its [`GenieGenerator.config`]."""
    if isinstance(generator, GenieGenerator):
        return generator
    if isinstance(generator, str):
        return GenieGenerator.from_pretrained(generator, progress=False)
    if isinstance(generator, Mapping):
        return GenieGenerator.from_config(generator).with_settings(progress=False)
    raise TypeError(f"`generator` must be a GenieGenerator, a model id or path, or a dict; got {type(generator).__name__}.")


class OnlineSource:
    """Generate the hard negative on the fly with a `GenieGenerator` (GPU-bound: one generation per applied sample)."""

    kind = "online"

    def __init__(
        self,
        generator: GenieGenerator | str | Mapping[str, Any],
        prompts: PromptMap | Sequence[str] | Mapping[int, str] | None,
        noise_ratio: float = 0.8,
        targets: str | TargetStrategy | Mapping[str, Any] = "random_k:1",
    ) -> None:
        if prompts is None:
            raise ValueError(
                "Online GenieTransform needs `prompts` (a PromptMap, or class names by label) to know what each "
                "target class is called; or use a precomputed `bank`."
            )
        self.generator = as_generator(generator)
        self.prompts = self.generator.prompt_map(prompts)
        self.noise_ratio = check_noise_ratio(noise_ratio, self.generator.num_inference_steps)
        self.strategy = get_strategy(targets)
        self.classes = self.prompts.labels

    @property
    def num_classes(self) -> int:
        return max(self.classes) + 1

    def check_label(self, label: int) -> int:
        if label not in self.prompts:
            raise ValueError(
                f"Label {label!r} is not in the prompt map (classes {self.classes[:20]}); add its name to `prompts`."
            )
        return label

    def draw(self, label: int, rng: np.random.Generator) -> dict[str, Any]:
        label = self.check_label(label)
        seed = int(rng.integers(2**31))
        (target,) = self.strategy(label, self.classes, source_id="", seed=seed)[:1]
        return {"source_label": label, "target": int(target), "noise_ratio": self.noise_ratio, "seed": seed}

    def images(self, sources: list, params: list[dict[str, Any]]) -> list:
        """One batched generation for all applied samples; each sample's noise comes from its own drawn seed."""
        result = self.generator.generate(
            sources, [p["target"] for p in params], self.noise_ratio, seed=0, prompts=self.prompts,
            source_ids=[f"transform-{p['seed']}" for p in params], progress=False,
        )  # fmt: skip
        return list(result.images)


class BankSource:
    """Draw a precomputed hard negative whose source class is the sample's label, in O(1) (a per-class index)."""

    kind = "bank"

    def __init__(self, bank: Any) -> None:
        from datasets import ClassLabel, Dataset

        if isinstance(bank, str):
            from .jobs import load_source

            bank = load_source(bank)
        if not isinstance(bank, Dataset):
            raise TypeError(f"`bank` must be a datasets.Dataset or a path to one, got {type(bank).__name__}.")
        missing = [c for c in BANK_COLUMNS if c not in bank.column_names]
        if missing:
            raise ValueError(
                f"The bank lacks the columns {missing} (it has {bank.column_names}); build it with "
                "genie_transforms.datasets.generate_hard_negatives or `genie generate`."
            )
        if len(bank) == 0:
            raise ValueError("The bank is empty; generate some hard negatives first.")
        self.bank = bank.select_columns(["image"])
        sources = np.asarray(bank["source_label"])
        self.targets = np.asarray(bank["label"])
        ratios = bank["noise_ratio"] if "noise_ratio" in bank.column_names else [None] * len(bank)
        self.ratios = np.array([1.0 if r is None else r for r in ratios], dtype=np.float64)
        self.index = {int(c): np.flatnonzero(sources == c) for c in np.unique(sources)}
        feature = bank.features["label"]
        self.num_classes = feature.num_classes if isinstance(feature, ClassLabel) else int(self.targets.max()) + 1

    def draw(self, label: int, rng: np.random.Generator) -> dict[str, Any]:
        rows = self.index.get(int(label))
        if rows is None:
            raise ValueError(
                f"The bank has no hard negative whose source class is {label}; generate some for that class "
                f"(the bank covers source classes {sorted(self.index)[:20]})."
            )
        row = int(rows[rng.integers(len(rows))])
        return {"source_label": int(label), "target": int(self.targets[row]), "bank_index": row,
                "noise_ratio": float(self.ratios[row])}  # fmt: skip

    def images(self, sources: list, params: list[dict[str, Any]]) -> list:
        """The bank's images, in the form (PIL / numpy / tensor), size and channels of each source."""
        out = []
        for source, p in zip(sources, params):
            _, spec = to_rgb(source)
            out.append(restore(self.bank[p["bank_index"]]["image"].convert("RGB"), spec))
        return out


def make_source(generator: Any = None, bank: Any = None, prompts: Any = None, noise_ratio: float = 0.8,
                targets: Any = "random_k:1") -> OnlineSource | BankSource:  # fmt: skip
    """Validate the transform's configuration and build its source of hard negatives (at construction)."""
    if (generator is None) == (bank is None):
        raise ValueError("GenieTransform needs exactly one of `bank` (precomputed, recommended) or `generator` (online).")
    if bank is not None:
        return BankSource(bank)
    return OnlineSource(generator, prompts, noise_ratio, targets)


def encode_label(source_label: int, target: int | None, noise_ratio: float, mode: str, num_classes: int) -> Any:
    """The label a sample leaves the transform with: the target (hard, the paper's default) or a vector.

    `"onehot"`: one-hot of the target (or of the source when not applied). `"soft"`: `1 - r` on the source and `r`
    on the target, a float vector that composes with MixUp/CutMix afterwards.
    """
    if mode == "hard":
        return source_label if target is None else target
    vector = np.zeros(num_classes, dtype=np.float32)
    if target is None:
        vector[source_label] = 1.0
    elif mode == "onehot":
        vector[target] = 1.0
    else:
        vector[source_label] += 1.0 - noise_ratio
        vector[target] += noise_ratio
    return vector


def check_label_mode(mode: str) -> str:
    if mode not in LABEL_MODES:
        raise ValueError(f"`label_mode` must be one of {LABEL_MODES}, got {mode!r}.")
    return mode
