"""An optional filter that keeps hard negatives and drops failures, with the classifier's own backbone.

A hard negative is meant to look like its source and carry its target's meaning, so it may lie near the source's
class: that is the point. A failure reads as neither, a third class. The filter embeds each generated image with
the same [`Embedder`] that GeNIe-Ada uses and compares its distance to the class prototypes (mean L2-normalised
embeddings of real images):

    score = min over third classes c of ||e - p_c||  -  ||e - p_target||,   kept when score > margin

where the third classes are every class except the target and the source's own class (every class except the
target when the source's label is not given). With `margin=0` (the default) an image is kept when it is nearer its
target's prototype than every third class's; a positive margin asks for more, a negative one forgives more. With
fewer than three classes there is no third class: the score is `inf` and every image is kept.

The filter is off unless you pass one; each row then records `filter_kept` and `filter_score`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .embedders import Embedder

RULE = "third-class-margin-v1"
"""The filter's rule (the formula above), recorded with every decision."""


@dataclass(frozen=True)
class FilterDecision:
    """One image's decision: kept or not, and the score it was decided on."""

    kept: bool
    score: float


class HardNegativeFilter:
    """Keep a generated image when the classifier's backbone puts it nearer its target's prototype than every third
    class's (by more than `margin`); see the module's docstring for the rule.

    Args:
        embedder (`Embedder`): the classifier's frozen backbone (the one GeNIe-Ada uses).
        prototypes (mapping of class index to vector): each class's prototype, e.g. from
            [`genie_transforms.ada.class_prototypes`]; every target and source class must have one.
        margin (`float`, defaults to 0.0): the score an image must exceed to be kept.

    Example:
        >>> keep = HardNegativeFilter(embedder, class_prototypes(embedder, real_images, real_labels))  # doctest: +SKIP
        >>> out = gen.generate(images, targets, 0.8, seed=0, prompts=names, hard_negative_filter=keep,
        ...                    source_labels=labels)  # doctest: +SKIP
        >>> [r.filter_kept for r in out.records]  # doctest: +SKIP
    """

    def __init__(self, embedder: Embedder, prototypes: Mapping[int, Any], margin: float = 0.0) -> None:
        if not isinstance(embedder, Embedder):
            raise TypeError(f"`embedder` must be a genie_transforms.embedders.Embedder, got {type(embedder).__name__}.")
        if not prototypes:
            raise ValueError("`prototypes` is empty; build them with class_prototypes(embedder, images, labels).")
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin):
            raise ValueError(f"`margin` must be a finite number, got {margin!r}.")
        self.embedder = embedder
        self.classes = sorted(int(c) for c in prototypes)
        self.matrix = np.stack([np.asarray(prototypes[c], dtype=np.float64) for c in self.classes])
        self.margin = float(margin)

    @property
    def config(self) -> dict[str, Any]:
        """What determines the decisions (for fingerprints and records): rule, margin, embedder, prototypes' hash."""
        digest = hashlib.sha256(np.ascontiguousarray(self.matrix).tobytes()).hexdigest()[:16]
        return {
            "rule": RULE,
            "margin": self.margin,
            "embedder": self.embedder.name,
            "embedder_identity": self.embedder.identity,
            "classes": self.classes,
            "prototypes_sha256": digest,
        }

    def scores(
        self,
        images: Sequence[Any],
        targets: Sequence[int],
        source_labels: Sequence[int] | None = None,
    ) -> np.ndarray:
        """The score of each image (see the module's docstring); `inf` where there is no third class."""
        images, targets = list(images), [int(t) for t in targets]
        if len(images) != len(targets):
            raise ValueError(f"Got {len(images)} images and {len(targets)} targets; give one target per image.")
        if source_labels is not None and len(source_labels) != len(targets):
            raise ValueError(f"Got {len(source_labels)} source labels for {len(targets)} images.")
        sources = [None] * len(targets) if source_labels is None else [int(s) for s in source_labels]
        missing = sorted({c for c in targets + [s for s in sources if s is not None] if c not in self.classes})
        if missing:
            raise ValueError(f"Classes {missing} have no prototype; give real images of them to class_prototypes().")
        if not images:
            return np.zeros(0)
        return self.scores_of_embeddings(self.embedder(images), targets, sources)

    def scores_of_embeddings(
        self, embeddings: np.ndarray, targets: Sequence[int], source_labels: Sequence[int | None] | None = None
    ) -> np.ndarray:
        """[`scores`] on embeddings already computed with this filter's embedder, shape (N, dim)."""
        embeddings = np.asarray(embeddings, dtype=np.float64)
        sources = [None] * len(targets) if source_labels is None else list(source_labels)
        dist = np.linalg.norm(embeddings[:, None, :] - self.matrix[None], axis=-1)
        index = {c: i for i, c in enumerate(self.classes)}
        out = np.empty(len(embeddings))
        for i, (target, source) in enumerate(zip(targets, sources)):
            third = [index[c] for c in self.classes if c != target and c != source]
            out[i] = dist[i, third].min() - dist[i, index[int(target)]] if third else math.inf
        return out

    def __call__(
        self,
        images: Sequence[Any],
        targets: Sequence[int],
        source_labels: Sequence[int] | None = None,
    ) -> list[FilterDecision]:
        """The decision on each image."""
        return [FilterDecision(bool(s > self.margin), float(s)) for s in self.scores(images, targets, source_labels)]

    def __repr__(self) -> str:
        return f"HardNegativeFilter(embedder={self.embedder.name!r}, classes={self.classes}, margin={self.margin})"


__all__ = ["RULE", "FilterDecision", "HardNegativeFilter"]
