"""Label flip over r: how often a hard negative reads as its target, its source, or neither, to an oracle."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..generator import GenieGenerator
from ..prompts import PromptMap

Oracle = Callable[[list], np.ndarray]
"""Maps a list of generated images to predicted class indices."""


def label_flip_curve(
    generator: GenieGenerator,
    images: Sequence[Any],
    labels: Sequence[int],
    targets: Sequence[int],
    ratios: Sequence[float],
    *,
    oracle: Oracle,
    prompts: PromptMap,
    seed: int = 0,
    source_ids: Sequence[str] | None = None,
) -> dict[float, dict[str, float]]:
    """For each r, the fractions of hard negatives that the oracle reads as the target, the source, or neither.

    Every source is generated at every r with the same noise (one trajectory per pair).
    """
    if not (len(images) == len(labels) == len(targets)):
        raise ValueError("`images`, `labels` and `targets` must have the same length.")
    n, k = len(images), len(ratios)
    ids = list(source_ids) if source_ids is not None else [str(i) for i in range(n)]
    sweep = generator.sweep(images, targets, ratios, seed=seed, prompts=prompts, source_ids=ids)
    predicted = np.asarray(oracle(sweep.flat())).reshape(n, k)
    target = np.asarray(targets)[:, None]
    source = np.asarray(labels)[:, None]
    curve = {}
    for j, r in enumerate(ratios):
        is_target, is_source = predicted[:, j] == target[:, 0], predicted[:, j] == source[:, 0]
        curve[float(r)] = {
            "target": float(is_target.mean()),
            "source": float(is_source.mean()),
            "neither": float((~is_target & ~is_source).mean()),
        }
    return curve


def _mean_pairwise_distance(x: np.ndarray) -> float:
    x = x.reshape(len(x), -1).astype(np.float64)
    sq = (x**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(d2[iu]).mean())


def sample_diversity(generated: np.ndarray, real: np.ndarray) -> float:
    """Mean pairwise L2 distance between generated samples of one class over that between real images of it.

    Near 1: as varied as the data; near 0: mode collapse.
    """
    if len(generated) < 2 or len(real) < 2:
        raise ValueError("sample_diversity needs at least two generated and two real images.")
    return _mean_pairwise_distance(np.asarray(generated)) / _mean_pairwise_distance(np.asarray(real))


__all__ = [
    "label_flip_curve",
    "sample_diversity",
]
