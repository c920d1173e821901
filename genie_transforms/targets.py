"""Target-class strategies: which contrasting classes a source image is turned into. Deterministic given a seed.

Each strategy is a small callable object: ``strategy(label, classes, source_id=..., seed=...) -> [targets]``,
with `to_dict()` / [`strategy_from_dict`] so that it serialises into transforms, fingerprints and dataset cards.
Any object with that shape (the [`TargetStrategy`] protocol) works wherever a strategy is accepted:

    class Neighbours:
        name = "neighbours"

        def __call__(self, label, classes, *, source_id="", seed=0):
            return [c for c in classes if abs(c - label) == 1]

        def to_dict(self):
            return {"name": self.name}

It must be deterministic given (label, classes, source id, seed) and return the same number of targets for every
source; its `to_dict()` goes into fingerprints and `job.json` (a strategy of your own is not rebuilt from it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .seeding import row_rng


def _others(label: int, classes: Sequence[int]) -> list[int]:
    others = [int(c) for c in classes if c != label]
    if not others:
        raise ValueError(f"No class other than {label} to choose a target from; GeNIe needs at least two classes.")
    return others


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` must be an int >= 1, got {k!r}.")
    return k


def _square_matrix(matrix: object, name: str) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"`{name}` must be a square (num_classes x num_classes) matrix, got shape {m.shape}.")
    if (m < 0).any() or not np.isfinite(m).all():
        raise ValueError(f"`{name}` must hold finite, non-negative counts or rates.")
    return m


class AllOthers:
    """The paper's few-shot pairing: each source goes to every other class (N-way gives N - 1 targets)."""

    name = "all_others"

    def __call__(self, label: int, classes: Sequence[int], *, source_id: str = "", seed: int = 0) -> list[int]:
        return _others(label, classes)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


class RandomK:
    """`k` distinct other classes, drawn uniformly per source from (seed, source id)."""

    name = "random_k"

    def __init__(self, k: int = 1) -> None:
        self.k = _check_k(k)

    def __call__(self, label: int, classes: Sequence[int], *, source_id: str = "", seed: int = 0) -> list[int]:
        others = _others(label, classes)
        if self.k > len(others):
            raise ValueError(f"random_k with k={self.k} but only {len(others)} other classes; lower k.")
        rng = row_rng(seed, self.name, source_id)
        return [int(c) for c in rng.choice(others, size=self.k, replace=False)]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k}


class ConfusionTopK:
    """The `k` classes a classifier confuses most with the source's class (the paper's long-tail recipe).

    `confusion[i, j]` counts (or rates) images of true class i predicted as j. Confusion is taken both ways,
    `confusion + confusion.T`; ties go to the lower class index. Deterministic: the seed is not used.
    """

    name = "confusion_top_k"

    def __init__(self, confusion: Sequence[Sequence[float]] | np.ndarray, k: int = 1) -> None:
        self.confusion = _square_matrix(confusion, "confusion")
        self.k = _check_k(k)

    def __call__(self, label: int, classes: Sequence[int], *, source_id: str = "", seed: int = 0) -> list[int]:
        others = _others(label, classes)
        if max([*others, label]) >= len(self.confusion):
            raise ValueError(f"The confusion matrix has {len(self.confusion)} classes but class {max(others)} is used.")
        both = self.confusion + self.confusion.T
        ranked = sorted(others, key=lambda c: (-both[label, c], c))
        return ranked[: self.k]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k, "confusion": self.confusion.tolist()}


class ToTail:
    """Long-tail enrichment: targets drawn with weights that favour classes with few examples and, given a
    confusion matrix, classes confused with the source (so a tail class gets sources from its most-confused
    classes).

    The weight of target t for a source of class s is ``(1 / count[t]) ** power * (affinity[s, t] + smoothing)``
    where `affinity` is ``confusion + confusion.T`` normalised per row (1 everywhere without a matrix).
    `k` distinct targets are drawn per source from (seed, source id).
    """

    name = "to_tail"

    def __init__(
        self,
        class_counts: Sequence[int] | Mapping[int, int],
        k: int = 1,
        confusion: Sequence[Sequence[float]] | np.ndarray | None = None,
        power: float = 1.0,
        smoothing: float = 0.01,
    ) -> None:
        counts = dict(class_counts) if isinstance(class_counts, Mapping) else dict(enumerate(class_counts))
        if not counts or any(int(v) < 1 for v in counts.values()):
            raise ValueError("`class_counts` must give every class a count >= 1.")
        self.class_counts = {int(c): int(v) for c, v in counts.items()}
        self.k = _check_k(k)
        self.confusion = None if confusion is None else _square_matrix(confusion, "confusion")
        if power < 0 or smoothing < 0:
            raise ValueError(f"`power` and `smoothing` must be >= 0, got {power} and {smoothing}.")
        self.power, self.smoothing = float(power), float(smoothing)

    def weights(self, label: int, others: Sequence[int]) -> np.ndarray:
        """Normalised probabilities of choosing each of `others` as the target of a source of class `label`."""
        missing = [c for c in others if c not in self.class_counts]
        if missing:
            raise ValueError(f"`class_counts` has no count for classes {missing}.")
        w = np.array([(1.0 / self.class_counts[c]) ** self.power for c in others])
        if self.confusion is not None:
            both = self.confusion + self.confusion.T
            row = both[label] / max(both[label].sum(), 1e-12)
            w = w * (row[list(others)] + self.smoothing)
        return w / w.sum()

    def __call__(self, label: int, classes: Sequence[int], *, source_id: str = "", seed: int = 0) -> list[int]:
        others = _others(label, classes)
        if self.k > len(others):
            raise ValueError(f"to_tail with k={self.k} but only {len(others)} other classes; lower k.")
        rng = row_rng(seed, self.name, source_id)
        return [int(c) for c in rng.choice(others, size=self.k, replace=False, p=self.weights(label, others))]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "k": self.k,
            "class_counts": {str(c): v for c, v in self.class_counts.items()},
            "confusion": None if self.confusion is None else self.confusion.tolist(),
            "power": self.power,
            "smoothing": self.smoothing,
        }


@runtime_checkable
class TargetStrategy(Protocol):
    """What a target strategy is: a `name`, a call giving the target classes of one source, and a `to_dict()`."""

    name: str

    def __call__(self, label: int, classes: Sequence[int], *, source_id: str = "", seed: int = 0) -> list[int]: ...

    def to_dict(self) -> dict[str, Any]: ...


STRATEGIES: dict[str, type] = {s.name: s for s in (AllOthers, RandomK, ConfusionTopK, ToTail)}


def strategy_from_dict(config: Mapping[str, Any]) -> TargetStrategy:
    """Rebuild a strategy from its `to_dict()`."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in STRATEGIES:
        raise ValueError(f"Unknown target strategy {name!r}; choose one of {sorted(STRATEGIES)}.")
    if name == "to_tail":
        config["class_counts"] = {int(c): v for c, v in config["class_counts"].items()}
    return STRATEGIES[name](**config)


def get_strategy(
    spec: str | TargetStrategy | Mapping[str, Any],
    *,
    confusion: Sequence[Sequence[float]] | np.ndarray | None = None,
    class_counts: Sequence[int] | Mapping[int, int] | None = None,
) -> TargetStrategy:
    """A strategy from an object, a `to_dict()` mapping, or a short spec: `"all_others"`, `"random_k:2"`,
    `"confusion_top_k:2"` (with `confusion`) or `"to_tail:1"` (with `class_counts`, and optionally `confusion`).
    The one parser of strategy specs, for the API, the transforms and the CLI."""
    if isinstance(spec, TargetStrategy):
        return spec
    if isinstance(spec, Mapping):
        return strategy_from_dict(spec)
    if not isinstance(spec, str):
        raise TypeError(
            f"A target strategy must be a name, a dict or an object with `name`, `__call__(label, classes, *, "
            f"source_id, seed)` and `to_dict()` (the TargetStrategy protocol), got {type(spec).__name__}."
        )
    name, _, arg = spec.partition(":")
    if name not in STRATEGIES or (name == "all_others" and arg):
        raise ValueError(
            f"Unknown target strategy {spec!r}; use all_others, random_k:K, confusion_top_k:K (with a confusion "
            "matrix) or to_tail:K (with class counts)."
        )
    try:
        k = int(arg) if arg else 1
    except ValueError:
        raise ValueError(f"Bad target strategy {spec!r}: K must be an int, e.g. '{name}:2'.") from None
    if name == "all_others":
        return AllOthers()
    if name == "random_k":
        return RandomK(k)
    if name == "confusion_top_k":
        if confusion is None:
            raise ValueError(f"{spec!r} needs a confusion matrix (true x predicted counts), e.g. --confusion m.npy.")
        return ConfusionTopK(confusion, k=k)
    if class_counts is None:
        raise ValueError(f"{spec!r} needs the number of images of each class.")
    return ToTail(class_counts, k=k, confusion=confusion)


def targets_per_source(strategy: TargetStrategy, classes: Sequence[int]) -> int:
    """How many targets the strategy gives each source (the same for every source of these classes)."""
    return len(strategy(int(classes[0]), classes, source_id="probe", seed=0))


__all__ = [
    "STRATEGIES",
    "AllOthers",
    "ConfusionTopK",
    "RandomK",
    "TargetStrategy",
    "ToTail",
    "get_strategy",
    "strategy_from_dict",
    "targets_per_source",
]
