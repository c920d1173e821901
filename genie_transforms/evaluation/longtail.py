"""Long-tail evaluation: a linear classifier on frozen features of a long-tailed split, with the tail classes
enriched by GeNIe hard negatives (sources from the classes most confused with each tail class, the paper's
recipe) against no enrichment and Txt2Img on the same budget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..embedders import Embedder
from ..generator import GenieGenerator
from ..prompts import PromptMap
from ..seeding import row_rng
from ..targets import ConfusionTopK
from .episodes import _normalise

LONG_TAIL_METHODS = ("none", "txt2img", "genie")


def long_tail_counts(n_max: int, num_classes: int, imbalance: float) -> list[int]:
    """Exponential profile: class i keeps `n_max * imbalance ** (-i / (C - 1))` images (class 0 the most)."""
    if imbalance < 1:
        raise ValueError(f"`imbalance` (largest / smallest class) must be >= 1, got {imbalance}.")
    return [max(1, int(n_max * imbalance ** (-i / max(1, num_classes - 1)))) for i in range(num_classes)]


def long_tail_indices(labels: Sequence[int], imbalance: float, seed: int = 0) -> np.ndarray:
    """Rows of a long-tailed subset of a balanced split (classes in index order get fewer and fewer rows)."""
    labels = np.asarray(labels)
    classes = sorted(set(labels.tolist()))
    n_max = min(int((labels == c).sum()) for c in classes)
    counts = long_tail_counts(n_max, len(classes), imbalance)
    rng = row_rng(seed, "long-tail")
    keep = [rng.choice(np.flatnonzero(labels == c), n, replace=False) for c, n in zip(classes, counts)]
    return np.sort(np.concatenate(keep))


def shot_groups(counts: dict[int, int]) -> dict[int, str]:
    """Many / medium / few-shot classes: the thirds of the classes by their number of training images."""
    order = sorted(counts, key=lambda c: -counts[c])
    third = max(1, len(order) // 3)
    return {c: "many" if i < third else ("few" if i >= len(order) - third else "medium") for i, c in enumerate(order)}


def _fit_predict(train_x, train_y, test_x) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=1.0, solver="lbfgs", max_iter=2000)
    return clf.fit(_normalise(train_x), train_y).predict(_normalise(test_x))


def evaluate_long_tail(
    images: Sequence[Image.Image],
    labels: Sequence[int],
    test_images: Sequence[Image.Image],
    test_labels: Sequence[int],
    embedder: Embedder,
    *,
    generator: GenieGenerator,
    prompts: PromptMap,
    imbalance: float = 10.0,
    methods: Sequence[str] = LONG_TAIL_METHODS,
    noise_ratio: float = 0.8,
    confused_k: int = 2,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Accuracy (overall, many, medium, few) of a linear probe trained on a long-tailed subset of (images, labels),
    with every non-head class topped up to the head's count by each method's generated images."""
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import cross_val_predict

    unknown = [m for m in methods if m not in LONG_TAIL_METHODS]
    if unknown:
        raise ValueError(f"Unknown long-tail methods {unknown}; choose from {list(LONG_TAIL_METHODS)}.")
    keep = long_tail_indices(labels, imbalance, seed)
    y = np.asarray(labels)[keep]
    train = [images[i] for i in keep]
    classes = sorted(set(y.tolist()))
    counts = {c: int((y == c).sum()) for c in classes}
    groups = shot_groups(counts)
    x = embedder(train)
    test_x, test_y = embedder(list(test_images)), np.asarray(test_labels)
    from sklearn.linear_model import LogisticRegression

    predicted = cross_val_predict(LogisticRegression(C=1.0, max_iter=2000), _normalise(x), y, cv=3)
    confusion = confusion_matrix(y, predicted, labels=classes)
    confused = ConfusionTopK(confusion, k=confused_k)
    n_max = max(counts.values())
    rng = row_rng(seed, "long-tail-sources")
    results: dict[str, Any] = {}
    for method in tqdm(list(methods), desc="long-tail methods", disable=not progress):
        extra_x, extra_y = np.empty((0, x.shape[1])), []
        if method != "none":
            sources, targets, ids = [], [], []
            for c in classes:
                need = n_max - counts[c]
                if need <= 0:
                    continue
                pool_classes = confused(classes.index(c), list(range(len(classes))))
                pool_classes = [classes[k] for k in pool_classes] if method == "genie" else [d for d in classes if d != c]
                pool = np.flatnonzero(np.isin(y, pool_classes))
                rows = rng.choice(pool, need, replace=len(pool) < need)
                sources += [train[r] for r in rows]
                targets += [c] * need
                ids += [f"lt{keep[r]}" for r in rows]
            if method == "genie":
                out = generator.generate(sources, targets, noise_ratio, seed=seed, prompts=prompts, source_ids=ids,
                                         progress=False)  # fmt: skip
            else:  # txt2img: pure text-to-image, no source image enters it
                out = generator.text_to_image(targets, seed=seed, prompts=prompts, source_ids=ids, progress=False)
            extra_x, extra_y = embedder(list(out.images)), targets
        pred = _fit_predict(np.concatenate([x, extra_x]), np.concatenate([y, np.asarray(extra_y, dtype=y.dtype)]), test_x)
        correct = pred == test_y
        row = {"overall": float(correct.mean()), "extra_images": len(extra_y)}
        for group in ("many", "medium", "few"):
            members = np.isin(test_y, [c for c in classes if groups[c] == group])
            row[group] = float(correct[members].mean()) if members.any() else float("nan")
        results[method] = row
    return {"imbalance": imbalance, "train_counts": counts, "groups": groups, "methods": results,
            "confusion": confusion.tolist()}  # fmt: skip
