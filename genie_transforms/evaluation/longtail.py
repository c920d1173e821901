"""Long-tail evaluation: a linear classifier on frozen features of a long-tailed split, with the tail classes
enriched by GeNIe hard negatives (sources from the classes most confused with each tail class, the paper's
recipe) against no enrichment and Txt2Img on the same budget."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..embedders import Embedder
from ..filtering import HardNegativeFilter
from ..generator import GenieGenerator
from ..prompts import PromptMap
from ..seeding import row_rng
from ..targets import ConfusionTopK
from .episodes import _normalise, linear_probe, linear_probe_predict

LONG_TAIL_METHODS = ("none", "txt2img", "genie", "genie_filtered")


def long_tail_counts(n_max: int, num_classes: int, imbalance: float) -> list[int]:
    """Exponential profile: class i keeps `n_max * imbalance ** (-i / (C - 1))` images (class 0 the most)."""
    if imbalance < 1:
        raise ValueError(f"`imbalance` (largest / smallest class) must be >= 1, got {imbalance}.")
    return [max(1, int(n_max * imbalance ** (-i / max(1, num_classes - 1)))) for i in range(num_classes)]


def long_tail_indices(labels: Sequence[int], imbalance: float, seed: int = 0) -> np.ndarray:
    """Rows of a long-tailed subset of a balanced split (classes in index order get fewer and fewer rows)."""
    label_array = np.asarray(labels)
    classes = sorted(set(label_array.tolist()))
    n_max = min(int((label_array == c).sum()) for c in classes)
    counts = long_tail_counts(n_max, len(classes), imbalance)
    rng = row_rng(seed, "long-tail")
    keep = [rng.choice(np.flatnonzero(label_array == c), n, replace=False) for c, n in zip(classes, counts)]
    return np.sort(np.concatenate(keep))


def shot_groups(counts: dict[int, int]) -> dict[int, str]:
    """Many / medium / few-shot classes: the thirds of the classes by their number of training images."""
    order = sorted(counts, key=lambda c: -counts[c])
    third = max(1, len(order) // 3)
    return {c: "many" if i < third else ("few" if i >= len(order) - third else "medium") for i, c in enumerate(order)}


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
    filter_margin: float = 0.0,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Accuracy (overall, many, medium, few) of a linear probe trained on a long-tailed subset of (images, labels),
    with every non-head class topped up to the head's count by each method's generated images. `genie_filtered` is
    GeNIe's images through the keep-hard-negatives filter (prototypes: the long-tailed training features), the
    dropped ones replaced by repeats of the class's kept ones (same budget)."""
    from ..extras import require

    require("scikit-learn", "sklearn", "evaluation")
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
    with warnings.catch_warnings():  # few-shot classes have fewer members than folds by design of the protocol
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        predicted = cross_val_predict(linear_probe(), _normalise(x), y, cv=3)
    confusion = confusion_matrix(y, predicted, labels=classes)
    confused = ConfusionTopK(confusion, k=confused_k)
    results: dict[str, Any] = {}
    made: dict[str, tuple[np.ndarray, list[int], list[int]]] = {}  # method -> (features, targets, source labels)
    for method in tqdm(list(methods), desc="long-tail methods", disable=not progress):
        extra_x, extra_y, row_extra = np.empty((0, x.shape[1])), list[int](), dict[str, Any]()
        if method != "none":
            kind = "txt2img" if method == "txt2img" else "genie"
            if kind not in made:
                made[kind] = _generate(
                    kind, classes, counts, y, train, keep, confused, generator, prompts, noise_ratio, seed, embedder
                )
            extra_x, extra_y, sources = made[kind]
            if method == "genie_filtered":
                prototypes = {c: x[y == c].mean(axis=0) for c in classes}
                keep_it = HardNegativeFilter(embedder, prototypes, filter_margin)
                kept = keep_it.scores_of_embeddings(extra_x, extra_y, sources) > filter_margin
                order = []
                for c in sorted(set(extra_y)):
                    mine = [i for i, t in enumerate(extra_y) if t == c]
                    order += _cycle([i for i in mine if kept[i]] or mine, len(mine))
                extra_x, extra_y = extra_x[order], [extra_y[i] for i in order]
                row_extra = {"filter_kept": float(kept.mean())}
        train_y = np.concatenate([y, np.asarray(extra_y, dtype=y.dtype)])
        pred = linear_probe_predict(np.concatenate([x, extra_x]), train_y, test_x)
        correct = pred == test_y
        row = {"overall": float(correct.mean()), "extra_images": len(extra_y), **row_extra}
        for group in ("many", "medium", "few"):
            members = np.isin(test_y, [c for c in classes if groups[c] == group])
            row[group] = float(correct[members].mean()) if members.any() else float("nan")
        results[method] = row
    return {
        "imbalance": imbalance,
        "train_counts": counts,
        "groups": groups,
        "methods": results,
        "confusion": confusion.tolist(),
    }


def _cycle(items: list, n: int) -> list:
    return [items[i % len(items)] for i in range(n)]


def _generate(
    kind: str,
    classes: list[int],
    counts: dict[int, int],
    y: np.ndarray,
    train: list,
    keep: np.ndarray,
    confused: ConfusionTopK,
    generator: GenieGenerator,
    prompts: PromptMap,
    noise_ratio: float,
    seed: int,
    embedder: Embedder,
) -> tuple[np.ndarray, list[int], list[int]]:
    """Top every class up to the head's count: GeNIe from sources of the classes most confused with it, or
    Txt2Img (no source enters; its ids still pair it with a source row, for the same noise as GeNIe's). Returns the
    generated images' features, their targets and their sources' labels."""
    n_max = max(counts.values())
    rng = row_rng(seed, "long-tail-sources")
    sources, targets, ids, source_labels = [], [], [], []
    for c in classes:
        need = n_max - counts[c]
        if need <= 0:
            continue
        pool_classes = confused(classes.index(c), list(range(len(classes))))
        pool_classes = [classes[k] for k in pool_classes] if kind == "genie" else [d for d in classes if d != c]
        pool = np.flatnonzero(np.isin(y, pool_classes))
        rows = rng.choice(pool, need, replace=len(pool) < need)
        copies: dict[int, int] = {}
        for r in rows:  # a source drawn twice gets its own noise the second time
            copies[int(r)] = copies.get(int(r), -1) + 1
            sources.append(train[r])
            ids.append(f"lt{keep[r]}" + (f"/copy{copies[int(r)]}" if copies[int(r)] else ""))
            source_labels.append(int(y[r]))
        targets += [c] * need
    if not targets:
        return np.empty((0, 0)), [], []
    if kind == "genie":
        out = generator.generate(
            sources, targets, noise_ratio, seed=seed, prompts=prompts, source_ids=ids, progress=False
        )
    else:
        out = generator.text_to_image(targets, seed=seed, prompts=prompts, source_ids=ids, progress=False)
    return embedder(list(out.images)), targets, source_labels


__all__ = [
    "LONG_TAIL_METHODS",
    "evaluate_long_tail",
    "long_tail_counts",
    "long_tail_indices",
    "shot_groups",
]
