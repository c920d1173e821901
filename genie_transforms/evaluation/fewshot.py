"""The paper's few-shot protocol: episodes, a frozen backbone, a linear probe, and every augmentation method on
the same budget of extra images per class."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..ada import DEFAULT_GRID, ada_select, check_grid
from ..embedders import Embedder
from ..filtering import HardNegativeFilter
from ..generator import GenieGenerator
from ..prompts import PromptMap
from ..seeding import row_rng, stable_hash
from . import augment
from .episodes import Episode, linear_probe_accuracy, mean_confidence_interval, sample_episodes

CLASSIC = ("none", "weak", "strong", "mixup", "cutmix")
GENERATIVE = ("img2img_0.3", "img2img_0.7", "txt2img", "genie", "genie_filtered", "genie_ada")
METHODS = CLASSIC + GENERATIVE


@dataclass
class FewShotConfig:
    """Settings of a few-shot evaluation (the paper's protocol by default, docs/guides/method.md, on `n_episodes` episodes).

    `budget` is the number of extra images per class for every method (default `k_shot * (n_way - 1)`, the number
    of GeNIe hard negatives per class); `support_views` weak-augmented views of each real support image are in
    every method's training set. `flip=False` for data where a mirror changes the class (digits).
    `genie_filtered` is GeNIe with the keep-hard-negatives filter (`filter_margin`, prototypes from the episode's
    support set): the images it drops are replaced by repeats of the class's kept ones, so the budget is the same.
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
    filter_margin: float = 0.0
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


class GeneratedBank:
    """Every generated image of an evaluation and its embedding, made once and shared by the episodes and methods
    that need it. An image is determined by (method's generator, source row, target, r, copy) and the evaluation's
    seed, as a precomputed bank of hard negatives would be; GeNIe at r and GeNIe-Ada's sweep point at the same r
    are the same image."""

    def __init__(self, images: Sequence[Image.Image], embedder: Embedder, prompts: PromptMap, seed: int) -> None:
        self.images, self.embedder, self.prompts, self.seed = images, embedder, prompts, seed
        self.store: dict[tuple, tuple[Any, np.ndarray]] = {}

    def get(
        self, generator: GenieGenerator, keys: list[tuple[int, int, float, int]], progress: bool | str = False
    ) -> list[tuple[Any, np.ndarray]]:
        """(image, embedding) of each (source row, target, r, copy); r = 1 is text-to-image (no source enters).
        Missing ones are generated in the generator's batches, one call per r; `progress` (a bar's description, or
        a bool) as in `GenieGenerator.generate`."""
        steps = generator.num_inference_steps
        missing = sorted({k for k in keys if _key(steps, k) not in self.store}, key=str)
        desc = progress if isinstance(progress, str) else "generated images"
        with tqdm(total=len(missing), desc=desc, unit="img", disable=not progress or not missing) as bar:
            for ratio in sorted({k[2] for k in missing}):
                todo = [k for k in missing if k[2] == ratio]
                self._generate(generator, todo, ratio, steps)
                bar.update(len(todo))
        return [self.store[_key(steps, k)] for k in keys]

    def _generate(self, generator: GenieGenerator, todo: list[tuple[int, int, float, int]], ratio: float, steps: int):
        """Generate and embed the images of one noise ratio into the store (one engine call)."""
        ids = [f"row{row}" + (f"/copy{copy}" if copy else "") for row, _, _, copy in todo]
        targets = [t for _, t, _, _ in todo]
        if ratio >= 1.0:
            out = generator.text_to_image(targets, seed=self.seed, prompts=self.prompts, source_ids=ids, progress=False)
        else:
            sources = [self.images[k[0]] for k in todo]
            out = generator.generate(
                sources, targets, ratio, seed=self.seed, prompts=self.prompts, source_ids=ids, progress=False
            )
        feats = self.embedder(list(out.images))
        for k, image, feat in zip(todo, out.images, feats):
            self.store[_key(steps, k)] = (image, feat)


def _key(steps: int, key: tuple[int, int, float, int]) -> tuple:
    return (steps, *key)


def _pairs(method: str, episode: Episode, budget: int) -> list[tuple[int, int, int]]:
    """(source row, target class, copy) of a generative method in one episode, `budget` per class: the paper's
    pairing (every support image of every other class) for GeNIe and Txt2Img, the class's own support images for
    Img2Img; a pair repeated to fill the budget gets the next copy (its own noise)."""
    out = []
    for j, c in enumerate(episode.classes):
        if method.startswith("img2img"):
            pairs = [(r, c) for r in episode.support[j]]  # the source's own prompt
        else:
            pairs = [(r, c) for i, rs in enumerate(episode.support) if i != j for r in rs]
        out += [(r, t, i // len(pairs)) for i, (r, t) in enumerate(_cycle(pairs, budget))]
    return out


def episode_training_set(
    method: str,
    episode: Episode,
    images: Sequence[Image.Image],
    config: FewShotConfig,
    seed: int,
    bank: GeneratedBank | None,
    generator: GenieGenerator | None,
    prototypes: dict[int, np.ndarray],
    labels: Sequence[int],
) -> tuple[list[Any], list[int], dict[str, Any]]:
    """The extra training examples that `method` adds to one episode, `config.per_class` per class: images (for
    the classic methods) or embeddings (for the generative ones, from the bank), their labels, and what the method
    measured on the way (`kept`: the filter's kept fraction)."""
    budget, rng = config.per_class, row_rng(seed, method)
    extra: list[Any] = []
    labels_out: list[int] = []
    if method == "none":
        return extra, labels_out, {}
    if method in CLASSIC:
        for j, c in enumerate(episode.classes):
            own = list(episode.support[j])
            others = [(r, episode.classes[i]) for i, rows in enumerate(episode.support) if i != j for r in rows]
            if method in ("weak", "strong"):
                fn = augment.random_resized_crop if method == "weak" else augment.strong
                extra += [fn(images[r], rng, config.crop_scale, config.flip) for r in _cycle(own, budget)]
            else:
                fn = getattr(augment, method)
                extra += [
                    fn(images[r], images[others[int(rng.integers(len(others)))][0]], rng) for r in _cycle(own, budget)
                ]
            labels_out += [c] * budget
        return extra, labels_out, {}
    if bank is None or generator is None:
        raise ValueError(f"Method {method!r} needs a generator and prompts.")
    pairs = _pairs(method, episode, budget)
    targets = [t for _, t, _ in pairs]
    if method == "genie_ada":
        return _ada_embeddings(pairs, bank, generator, config, prototypes), targets, {}
    ratio = {"img2img_0.3": 0.3, "img2img_0.7": 0.7, "txt2img": 1.0}.get(method, config.genie_ratio)
    feats = [f for _, f in bank.get(generator, [(r, t, ratio, k) for r, t, k in pairs])]
    if method != "genie_filtered":
        return feats, targets, {}
    keep = HardNegativeFilter(bank.embedder, prototypes, config.filter_margin)
    sources = [int(labels[r]) for r, _, _ in pairs]
    kept = keep.scores_of_embeddings(np.stack(feats), targets, sources) > config.filter_margin
    out: list[Any] = []
    for c in episode.classes:
        mine = [i for i, t in enumerate(targets) if t == c]
        chosen = [i for i in mine if kept[i]] or mine  # a class with nothing kept keeps its unfiltered images
        out += [feats[i] for i in _cycle(chosen, len(mine))]
    return out, [t for c in episode.classes for t in targets if t == c], {"kept": float(kept.mean())}


def _fill(
    bank: GeneratedBank, generator: GenieGenerator, episodes: list[Episode], config: FewShotConfig, progress: bool
) -> None:
    """Generate the images that the episodes' generative methods will use (cheap Ada's final images aside, which
    depend on each episode's choice), batched across episodes; each method's progress bar names it and its place
    among them ("txt2img (3/8)")."""
    jobs: dict[tuple, tuple[str, GenieGenerator, list]] = {}  # genie_filtered shares genie's images: one job
    for method in config.methods:
        if method not in GENERATIVE:
            continue
        keys = sorted({k for episode in episodes for k in _pairs(method, episode, config.per_class)}, key=str)
        if method == "genie_ada":
            sweeper = generator.with_settings(num_inference_steps=10) if config.ada_mode == "cheap" else generator
            wanted = [(r, t, g, k) for r, t, k in keys for g in config.ada_grid]
            jobs.setdefault(("ada", sweeper.num_inference_steps), ("genie_ada sweep", sweeper, wanted))
        else:
            ratio = {"img2img_0.3": 0.3, "img2img_0.7": 0.7, "txt2img": 1.0}.get(method, config.genie_ratio)
            jobs.setdefault((ratio, tuple(keys)), (method, generator, [(r, t, ratio, k) for r, t, k in keys]))
    for i, (name, gen, wanted) in enumerate(jobs.values(), 1):
        bank.get(gen, wanted, f"{name} ({i}/{len(jobs)})" if progress else False)


def _ada_embeddings(
    pairs: list[tuple[int, int, int]],
    bank: GeneratedBank,
    generator: GenieGenerator,
    config: FewShotConfig,
    prototypes: dict[int, np.ndarray],
) -> list[np.ndarray]:
    """GeNIe-Ada's choice for each pair from the bank (the paper's rule on the episode's support prototypes): the
    sweep over the grid (on the coarse schedule in cheap mode), the image after the largest jump."""
    grid = tuple(config.ada_grid)
    sweeper = generator.with_settings(num_inference_steps=10) if config.ada_mode == "cheap" else generator
    sweep = bank.get(sweeper, [(r, t, g, k) for r, t, k in pairs for g in grid])
    sources = bank.embedder([bank.images[r] for r, _, _ in pairs])
    out = []
    for i, (r, t, k) in enumerate(pairs):
        feats = np.stack([f for _, f in sweep[i * len(grid) : (i + 1) * len(grid)]])
        choice = ada_select(sources[i], feats, prototypes[t])[0]
        out.append(
            feats[choice] if config.ada_mode == "exact" else bank.get(generator, [(r, t, grid[choice], k)])[0][1]
        )
    return out


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
    bank: GeneratedBank | None = None,
) -> dict[str, Any]:
    """Mean accuracy and 95% interval of every method over the same episodes (drawn from `classes` of `labels`),
    and the paired differences between methods (see [`paired_differences`]).

    Every generated image is made once and shared by the episodes that use its (source, target) pair (see
    [`GeneratedBank`]), so a long run costs about one bank of hard negatives of the classes' images; pass the same
    `bank` to several evaluations (1-shot, then 5-shot) to share it.

    Returns `{"config": ..., "episodes": n, "methods": {method: {"mean", "ci95", "accuracies", "extra_per_class"}},
    "paired": {...}, "filter_kept": fraction}`. `on_episode` is called with the results so far after every episode
    (to write them as the run goes).
    """
    if len(images) != len(labels):
        raise ValueError(f"Got {len(images)} images and {len(labels)} labels.")
    episodes = sample_episodes(
        labels, config.n_way, config.k_shot, config.n_query, config.n_episodes, config.seed, classes
    )
    needs_generator = [m for m in config.methods if m in GENERATIVE]
    if needs_generator:
        if generator is None or prompts is None:
            raise ValueError(f"Methods {needs_generator} need `generator` and `prompts`.")
        if "genie_ada" in config.methods:
            if config.ada_mode not in ("exact", "cheap"):
                raise ValueError(f"`ada_mode` must be 'exact' or 'cheap', got {config.ada_mode!r}.")
            check_grid(config.ada_grid, generator.num_inference_steps)
        bank = bank or GeneratedBank(images, embedder, prompts, config.seed)
        _fill(bank, generator, episodes, config, progress)  # every episode's images up front, in full batches
    accuracies: dict[str, list[float]] = {m: [] for m in config.methods}
    kept: list[float] = []
    for e, episode in enumerate(tqdm(episodes, desc="few-shot episodes", disable=not progress)):
        seed = stable_hash(config.seed, "episode-seed", e) % 2**31
        rng = row_rng(seed, "support-views")
        support_rows = [r for rows in episode.support for r in rows]
        support_labels = [c for c, rows in zip(episode.classes, episode.support) for _ in rows]
        views = [
            augment.random_resized_crop(images[r], rng, config.crop_scale, config.flip)
            for r in support_rows
            for _ in range(config.support_views)
        ]
        base_x = embedder([images[r] for r in support_rows] + views)
        base_y = support_labels + [y for y in support_labels for _ in range(config.support_views)]
        query_rows = [r for rows in episode.query for r in rows]
        query_x = embedder([images[r] for r in query_rows])
        query_y = [c for c, rows in zip(episode.classes, episode.query) for _ in rows]
        feats = base_x[: len(support_rows)]
        prototypes = {c: feats[np.array(support_labels) == c].mean(axis=0) for c in episode.classes}
        for method in config.methods:
            extra, extra_y, measured = episode_training_set(
                method, episode, images, config, seed, bank, generator, prototypes, labels
            )
            if "kept" in measured:
                kept.append(measured["kept"])
            extra_x = (np.stack(extra) if method in GENERATIVE else embedder(extra)) if extra else None
            train_x = np.concatenate([base_x, extra_x]) if extra_x is not None else base_x
            accuracies[method].append(linear_probe_accuracy(train_x, base_y + extra_y, query_x, query_y))
        if on_episode is not None:
            on_episode(_summary(config, accuracies, kept))
    return _summary(config, accuracies, kept)


def _summary(config: FewShotConfig, accuracies: dict[str, list[float]], kept: list[float]) -> dict[str, Any]:
    results = {}
    for method, accs in accuracies.items():
        mean, ci = mean_confidence_interval(accs)
        extra = 0 if method == "none" else config.per_class
        results[method] = {"mean": mean, "ci95": ci, "accuracies": accs, "extra_per_class": extra}
    episodes = len(next(iter(accuracies.values()), []))
    return {
        "config": asdict(config),
        "episodes": episodes,
        "methods": results,
        "paired": paired_differences(accuracies),
        "filter_kept": float(np.mean(kept)) if kept else None,
    }


PAIRS = (
    ("genie", "txt2img"),
    ("genie", "img2img_0.7"),
    ("genie", "img2img_0.3"),
    ("genie_ada", "genie"),
    ("genie", "none"),
    ("genie_ada", "txt2img"),
    ("genie_filtered", "genie"),
)


def paired_differences(accuracies: dict[str, list[float]], pairs: Sequence[tuple[str, str]] = PAIRS) -> dict[str, Any]:
    """Per-episode differences `a - b` for each pair of methods that both ran (every method sees the same episodes):
    the mean, its 95% interval (paired t: t(0.975, n - 1) * sd / sqrt(n)) and whether the interval excludes 0."""
    from ..extras import require

    require("SciPy", "scipy", "evaluation")
    from scipy.stats import t as student

    out = {}
    for a, b in pairs:
        if a not in accuracies or b not in accuracies or not accuracies[a]:
            continue
        diff = np.asarray(accuracies[a]) - np.asarray(accuracies[b])
        n = len(diff)
        half = float(student.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
        mean = float(diff.mean())
        out[f"{a} - {b}"] = {
            "mean": mean,
            "ci95": half,
            "low": mean - half,
            "high": mean + half,
            "significant": bool(n > 1 and (mean - half > 0 or mean + half < 0)),
            "episodes": n,
        }
    return out


__all__ = [
    "CLASSIC",
    "GENERATIVE",
    "METHODS",
    "PAIRS",
    "FewShotConfig",
    "GeneratedBank",
    "episode_training_set",
    "evaluate_few_shot",
    "paired_differences",
]
