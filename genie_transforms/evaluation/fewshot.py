"""The paper's few-shot protocol: episodes, a frozen backbone, a linear probe, and every augmentation method on
the same budget of extra images per class."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..ada import DEFAULT_GRID, GenieAda
from ..embedders import Embedder
from ..generator import GenieGenerator
from ..prompts import PromptMap
from ..seeding import row_rng, stable_hash
from . import augment
from .episodes import Episode, linear_probe_accuracy, mean_confidence_interval, sample_episodes

CLASSIC = ("none", "weak", "strong", "mixup", "cutmix")
GENERATIVE = ("img2img_0.3", "img2img_0.7", "txt2img", "genie", "genie_ada")
METHODS = CLASSIC + GENERATIVE


@dataclass
class FewShotConfig:
    """Settings of a few-shot evaluation (METHOD.md's protocol by default, on `n_episodes` episodes).

    `budget` is the number of extra images per class for every method (default `k_shot * (n_way - 1)`, the number
    of GeNIe hard negatives per class); `support_views` weak-augmented views of each real support image are in
    every method's training set. `flip=False` for data where a mirror changes the class (digits).
    """

    n_way: int = 5
    k_shot: int = 1
    n_query: int = 16
    n_episodes: int = 600
    support_views: int = 5
    budget: int | None = None
    crop_scale: tuple[float, float] = (0.2, 1.0)
    flip: bool = True
    genie_ratio: float = 0.8
    ada_grid: tuple[float, ...] = DEFAULT_GRID
    ada_mode: str = "exact"
    seed: int = 0
    methods: tuple[str, ...] = field(default=METHODS)

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"Unknown methods {unknown}; choose from {list(METHODS)}.")

    @property
    def per_class(self) -> int:
        return self.budget if self.budget is not None else max(1, self.k_shot * (self.n_way - 1))


def _cycle(items: list, n: int) -> list:
    return [items[i % len(items)] for i in range(n)]


def episode_training_set(method: str, episode: Episode, images: Sequence[Image.Image], config: FewShotConfig,
                         seed: int, generator: GenieGenerator | None, ada: GenieAda | None,
                         prompts: PromptMap | None, prototypes: dict[int, np.ndarray] | None,
                         ) -> tuple[list[Image.Image], list[int]]:  # fmt: skip
    """The extra (image, label) pairs that `method` adds to one episode, `config.per_class` per class."""
    budget, rng = config.per_class, row_rng(seed, method)
    extra, labels = [], []
    if method == "none":
        return extra, labels
    for j, c in enumerate(episode.classes):
        own = list(episode.support[j])
        others = [(r, episode.classes[i]) for i, rows in enumerate(episode.support) if i != j for r in rows]
        if method in ("weak", "strong"):
            fn = augment.random_resized_crop if method == "weak" else augment.strong
            extra += [fn(images[r], rng, config.crop_scale, config.flip) for r in _cycle(own, budget)]
        elif method in ("mixup", "cutmix"):
            fn = getattr(augment, method)
            extra += [fn(images[r], images[others[int(rng.integers(len(others)))][0]], rng) for r in _cycle(own, budget)]
        else:
            continue
        labels += [c] * budget
    if method in CLASSIC:
        return extra, labels
    if generator is None or prompts is None:
        raise ValueError(f"Method {method!r} needs a generator and prompts.")
    rows, targets = [], []  # (source row, target class) pairs on the budget
    for j, c in enumerate(episode.classes):
        if method.startswith("img2img"):
            pairs = [(r, c) for r in episode.support[j]]  # the source's own prompt
        else:
            pairs = [(r, c) for i, rs in enumerate(episode.support) if i != j for r in rs]
        for r, t in _cycle(pairs, budget):
            rows.append(r)
            targets.append(t)
    sources, ids = [images[r] for r in rows], [f"row{r}" for r in rows]
    if method == "genie_ada":
        out = ada.run(sources, targets, prototypes=prototypes, seed=seed, prompts=prompts, source_ids=ids)
    elif method == "txt2img":  # pure text-to-image: no source image enters it
        out = generator.text_to_image(targets, seed=seed, prompts=prompts, source_ids=ids, progress=False)
    else:
        ratio = {"img2img_0.3": 0.3, "img2img_0.7": 0.7, "genie": config.genie_ratio}[method]
        out = generator.generate(sources, targets, ratio, seed=seed, prompts=prompts, source_ids=ids, progress=False)
    return list(out.images), targets


def evaluate_few_shot(
    images: Sequence[Image.Image],
    labels: Sequence[int],
    embedder: Embedder,
    config: FewShotConfig,
    *,
    generator: GenieGenerator | None = None,
    prompts: PromptMap | None = None,
    classes: Sequence[int] | None = None,
    progress: bool = True,
    on_episode: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Mean accuracy and 95% interval of every method over the same episodes (drawn from `classes` of `labels`),
    and the paired differences between methods (see [`paired_differences`]).

    Returns `{"config": ..., "episodes": n, "methods": {method: {"mean", "ci95", "accuracies", "extra_per_class"}},
    "paired": {...}}`. `on_episode` is called with the results so far after every episode (to write them as the
    run goes).
    """
    if len(images) != len(labels):
        raise ValueError(f"Got {len(images)} images and {len(labels)} labels.")
    episodes = sample_episodes(labels, config.n_way, config.k_shot, config.n_query, config.n_episodes, config.seed,
                               classes)  # fmt: skip
    needs_generator = [m for m in config.methods if m in GENERATIVE]
    if needs_generator and (generator is None or prompts is None):
        raise ValueError(f"Methods {needs_generator} need `generator` and `prompts`.")
    ada = GenieAda(generator, embedder, config.ada_grid, config.ada_mode) if "genie_ada" in config.methods else None
    accuracies: dict[str, list[float]] = {m: [] for m in config.methods}
    for e, episode in enumerate(tqdm(episodes, desc="few-shot episodes", disable=not progress)):
        seed = stable_hash(config.seed, "episode-seed", e) % 2**31
        rng = row_rng(seed, "support-views")
        support_rows = [r for rows in episode.support for r in rows]
        support_labels = [c for c, rows in zip(episode.classes, episode.support) for _ in rows]
        views = [augment.random_resized_crop(images[r], rng, config.crop_scale, config.flip)
                 for r in support_rows for _ in range(config.support_views)]  # fmt: skip
        base_x = embedder([images[r] for r in support_rows] + views)
        base_y = support_labels + [y for y in support_labels for _ in range(config.support_views)]
        query_rows = [r for rows in episode.query for r in rows]
        query_x = embedder([images[r] for r in query_rows])
        query_y = [c for c, rows in zip(episode.classes, episode.query) for _ in rows]
        prototypes = None
        if ada is not None:
            feats = base_x[: len(support_rows)]
            prototypes = {c: feats[np.array(support_labels) == c].mean(axis=0) for c in episode.classes}
        for method in config.methods:
            extra, extra_y = episode_training_set(method, episode, images, config, seed, generator, ada, prompts,
                                                  prototypes)  # fmt: skip
            train_x = np.concatenate([base_x, embedder(extra)]) if extra else base_x
            accuracies[method].append(linear_probe_accuracy(train_x, base_y + extra_y, query_x, query_y))
        if on_episode is not None:
            on_episode(_summary(config, accuracies))
    return _summary(config, accuracies)


def _summary(config: FewShotConfig, accuracies: dict[str, list[float]]) -> dict[str, Any]:
    results = {}
    for method, accs in accuracies.items():
        mean, ci = mean_confidence_interval(accs)
        extra = 0 if method == "none" else config.per_class
        results[method] = {"mean": mean, "ci95": ci, "accuracies": accs, "extra_per_class": extra}
    episodes = len(next(iter(accuracies.values()), []))
    return {"config": asdict(config), "episodes": episodes, "methods": results, "paired": paired_differences(accuracies)}


PAIRS = (("genie", "txt2img"), ("genie", "img2img_0.7"), ("genie", "img2img_0.3"), ("genie_ada", "genie"),
         ("genie", "none"), ("genie_ada", "txt2img"))  # fmt: skip


def paired_differences(accuracies: dict[str, list[float]], pairs: Sequence[tuple[str, str]] = PAIRS) -> dict[str, Any]:
    """Per-episode differences `a - b` for each pair of methods that both ran (every method sees the same episodes):
    the mean, its 95% interval (paired t: t(0.975, n - 1) * sd / sqrt(n)) and whether the interval excludes 0."""
    from scipy.stats import t as student

    out = {}
    for a, b in pairs:
        if a not in accuracies or b not in accuracies or not accuracies[a]:
            continue
        diff = np.asarray(accuracies[a]) - np.asarray(accuracies[b])
        n = len(diff)
        half = float(student.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
        mean = float(diff.mean())
        out[f"{a} - {b}"] = {"mean": mean, "ci95": half, "low": mean - half, "high": mean + half,
                             "significant": bool(n > 1 and (mean - half > 0 or mean + half < 0)), "episodes": n}  # fmt: skip
    return out
