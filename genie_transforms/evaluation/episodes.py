"""Few-shot episodes and the linear probe of the paper's protocol (pure functions and scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..seeding import row_rng


@dataclass(frozen=True)
class Episode:
    """One N-way K-shot episode: its classes and the dataset rows of its support and query sets (disjoint)."""

    classes: tuple[int, ...]
    support: tuple[tuple[int, ...], ...]  # support[j]: K rows of classes[j]
    query: tuple[tuple[int, ...], ...]  # query[j]: Q rows of classes[j]


def sample_episodes(
    labels: Sequence[int],
    n_way: int,
    k_shot: int,
    n_query: int,
    n_episodes: int,
    seed: int = 0,
    classes: Sequence[int] | None = None,
) -> list[Episode]:
    """Episodes drawn from `classes` (all labels by default) without support/query overlap; episode e is determined
    by (seed, e) alone, so every method sees the same episodes whatever else runs."""
    label_array = np.asarray(labels)
    pool = sorted(set(label_array.tolist()) if classes is None else classes)
    for name, value in (("n_way", n_way), ("k_shot", k_shot), ("n_query", n_query), ("n_episodes", n_episodes)):
        if value < 1:
            raise ValueError(f"`{name}` must be >= 1, got {value}.")
    if n_way > len(pool):
        raise ValueError(f"{n_way}-way episodes need {n_way} classes, but only {len(pool)} are available.")
    rows_of = {c: np.flatnonzero(label_array == c) for c in pool}
    short = [c for c in pool if len(rows_of[c]) < k_shot + n_query]
    if short:
        raise ValueError(f"Classes {short} have fewer than k_shot + n_query = {k_shot + n_query} images.")
    episodes = []
    for e in range(n_episodes):
        rng = row_rng(seed, "episode", e)
        chosen = sorted(int(c) for c in rng.choice(pool, n_way, replace=False))
        support, query = [], []
        for c in chosen:
            rows = rng.choice(rows_of[c], k_shot + n_query, replace=False)
            support.append(tuple(int(r) for r in rows[:k_shot]))
            query.append(tuple(int(r) for r in rows[k_shot:]))
        episodes.append(Episode(tuple(chosen), tuple(support), tuple(query)))
    return episodes


def linear_probe(C: float = 1.0):
    """The paper's classifier, the one probe of every evaluation here (unfitted): multinomial logistic regression,
    lbfgs, C = 1, up to 2000 iterations. Fit it on L2-normalised features."""
    from ..extras import require

    require("scikit-learn", "sklearn", "evaluation")
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, solver="lbfgs", max_iter=2000)


def linear_probe_predict(train_x: Any, train_y: Any, test_x: Any, C: float = 1.0) -> np.ndarray:
    """[`linear_probe`] fitted on L2-normalised `train_x`; its predictions on `test_x`."""
    clf = linear_probe(C).fit(_normalise(train_x), np.asarray(train_y))
    return clf.predict(_normalise(test_x))


def linear_probe_predictions(train_sets: Sequence[tuple[Any, Any]], test_x: Any, C: float = 1.0) -> list[np.ndarray]:
    """The predictions on the same `test_x` of a [`linear_probe`] fitted on each `(train_x, train_y)`: the methods
    of one episode in one call (a picklable unit of work for a pool of processes)."""
    return [linear_probe_predict(x, y, test_x, C) for x, y in train_sets]


def linear_probe_accuracy(train_x: Any, train_y: Any, test_x: Any, test_y: Any, C: float = 1.0) -> float:
    """The accuracy of [`linear_probe_predict`] on (test_x, test_y)."""
    return float((linear_probe_predict(train_x, train_y, test_x, C) == np.asarray(test_y)).mean())


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def mean_confidence_interval(accuracies: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% interval over episodes: 1.96 * std / sqrt(n) (population std, as is usual)."""
    acc = np.asarray(accuracies, dtype=np.float64)
    if acc.size == 0:
        raise ValueError("No accuracies to summarise.")
    return float(acc.mean()), float(1.96 * acc.std() / np.sqrt(acc.size))


__all__ = [
    "Episode",
    "linear_probe",
    "linear_probe_accuracy",
    "linear_probe_predict",
    "linear_probe_predictions",
    "mean_confidence_interval",
    "sample_episodes",
]
