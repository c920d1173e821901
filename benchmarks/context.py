"""The context-shift benchmark, run as pre-registered in `benchmarks/context_protocol.md` (read it first).

    python benchmarks/context.py [--episodes 200] [--pool 10] [--gen-seeds 0 1 2] [--mappings 0 1] [--steps 20]
                                 [--out benchmarks/results]

In order: the generation-level preconditions P1-P3 (`context_preconditions.py`), then P4 (the "none" method's
aligned-minus-conflicting gap); if one fails, the report says so and no accuracy is computed. Then every method
on the same episodes and budget, per (shot, rho): accuracy on aligned, conflicting and random queries, paired
differences with two-level bootstrap intervals (generation seeds as clusters, then episodes), the interaction,
the verdict of the falsification rule, GeNIe-Ada's r* histogram, and the r ablation on both worlds (the plain
digits with `genie-tiny-digits`, the context world with `genie-tiny-context`).

Support images come from a fixed pool of `--pool` held-out scans per novel class (queries from the others), so
that the bank of generated images is finite and made once per generation seed (see the protocol's deviations).

Writes OUT/context.json and OUT/context.md. `--smoke` is for the tests: toy sizes, and the tables are computed
even where a precondition fails (the report says it is a smoke run).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from context_preconditions import measure as measure_preconditions

from genie_transforms import GenieGenerator, __version__
from genie_transforms.ada import DEFAULT_GRID, ada_select
from genie_transforms.digits import digits_arrays, digits_prompt_map
from genie_transforms.digits.context import CONTEXT_NAMES, STROKE, render, strip_context
from genie_transforms.embedders import Embedder, context_embedder, digits_embedder
from genie_transforms.evaluation import augment
from genie_transforms.evaluation.episodes import linear_probe_predictions
from genie_transforms.evaluation.fewshot import GeneratedBank
from genie_transforms.seeding import row_rng

NOVEL = (5, 6, 7, 8, 9)
RHOS = (1.0, 0.8, 0.2)
GROUPS = ("aligned", "conflicting", "random")
CLASSIC = ("none", "weak", "background_randomisation", "oracle_composite")
GENERATED = ("img2img_0.3", "img2img_0.7", "reference_own_img2img_0.8", "txt2img", "genie", "genie_ada")
OWN_IMAGE = {"img2img_0.3": 0.3, "img2img_0.7": 0.7, "reference_own_img2img_0.8": 0.8}
ABLATION = tuple(f"genie_{r}" for r in DEFAULT_GRID if r != 0.8)
GENIE_RATIO = 0.8
VIEWS = 5
CROP_SCALE = (0.6, 1.0)
DIFFERENCES = (
    ("genie", "txt2img"),
    ("genie", "reference_own_img2img_0.8"),
    ("genie", "img2img_0.7"),
    ("genie", "background_randomisation"),
    ("genie", "none"),
    ("genie_ada", "genie"),
    ("genie_ada", "txt2img"),
    ("oracle_composite", "genie"),
)


@dataclass(frozen=True)
class World:
    """The held-out novel scans of a world, every scan rendered over each of its contexts (row = scan * C + c)."""

    name: str
    scans: np.ndarray  # (n, 32, 32, 3) uint8, plain digits
    labels: np.ndarray
    contexts: int  # 5 (the context world) or 1 (the plain digits)

    def row(self, scan: int, context: int) -> int:
        return scan * self.contexts + context

    def images(self) -> list[Image.Image]:
        if self.contexts == 1:
            return [Image.fromarray(x) for x in self.scans]
        drawn = [render(self.scans, np.full(len(self.scans), c)) for c in range(self.contexts)]
        return [Image.fromarray(drawn[c][s]) for s in range(len(self.scans)) for c in range(self.contexts)]


@dataclass(frozen=True)
class Episode:
    """One 5-way episode over the novel classes (in `NOVEL` order): its support and query scans, the class-to-context
    mapping, and the draws that render them; the draws are shared by every rho (the conditions are paired)."""

    support: np.ndarray  # (5, K) scan positions
    mapping: np.ndarray  # (5,) context of each class
    carry: np.ndarray  # (5, K) uniform draws: a support image carries its class's context when carry < rho
    elsewhere: np.ndarray  # (5, K) the context it gets otherwise (uniform over the other four)
    query: np.ndarray  # (5, Q) scan positions
    query_contexts: dict[str, np.ndarray]  # group -> (5, Q) contexts

    def support_contexts(self, rho: float) -> np.ndarray:
        return np.where(self.carry < rho, self.mapping[:, None], self.elsewhere)


def pools(world: World, pool: int) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Each novel class's support pool (`pool` scans, seeded) and query pool (the rest)."""
    support, query = {}, {}
    for c in NOVEL:
        rows = row_rng("context-benchmark", "pool", c).permutation(np.flatnonzero(world.labels == c))
        support[c], query[c] = np.sort(rows[:pool]), np.sort(rows[pool:])
    return support, query


def sample_episodes(
    world: World, support_pool: dict, query_pool: dict, shots: int, mapping_seed: int, n: int
) -> list[Episode]:
    """Episode e of (shots, mapping seed) is determined by them alone (every method and rho sees the same)."""
    out = []
    k = len(NOVEL)
    for e in range(n):
        rng = row_rng("context-benchmark", "episode", shots, mapping_seed, e)
        support = np.stack([rng.choice(support_pool[c], shots, replace=False) for c in NOVEL])
        query = np.stack([rng.choice(query_pool[c], 16, replace=False) for c in NOVEL])
        mapping = rng.permutation(world.contexts) if world.contexts == k else np.zeros(k, dtype=int)
        shift = rng.integers(1, max(world.contexts, 2), (k, shots))  # another context: mapping + 1..C-1 (mod C)
        elsewhere = (mapping[:, None] + shift) % max(world.contexts, 1)
        other_class = (np.arange(k)[:, None] + rng.integers(1, k, (k, 16))) % k
        out.append(
            Episode(
                support=support,
                mapping=mapping,
                carry=rng.random((k, shots)),
                elsewhere=elsewhere,
                query=query,
                query_contexts={
                    "aligned": np.repeat(mapping[:, None], 16, axis=1),
                    "conflicting": mapping[other_class],
                    "random": rng.integers(0, world.contexts, (k, 16)),
                },
            )
        )
    return out


def background_randomisation(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The classic augmentation aimed at context: the strokes (`strip_context`) over a background of a random hue
    and a random coarse texture that is none of the five (diagonal stripes of a random period and direction)."""
    alpha = strip_context(np.asarray(image)[None])[0, ..., :1].astype(np.float32) / 255
    hue = np.array(Image.new("HSV", (1, 1), (int(rng.integers(256)), 180, 170)).convert("RGB")).reshape(3)
    y, x = np.mgrid[0:32, 0:32]
    period = int(rng.integers(8, 17))
    stripes = ((x + (y if rng.random() < 0.5 else -y)) // (period // 2)) % 2
    back = np.clip(hue[None, None, :] - 48.0 * stripes[..., None], 0, 255)
    return Image.fromarray(np.rint(alpha * np.asarray(STROKE, np.float32) + (1 - alpha) * back).astype(np.uint8))


class Tables:
    """Every embedding the episodes use, computed once: the renders, the support views, and the classic
    augmentations' copies (copy i of a support render is the same image in every episode that uses it)."""

    def __init__(self, world: World, embedder: Embedder, images: list[Image.Image], support_pool: dict) -> None:
        self.world, self.embedder = world, embedder
        self.render = embedder(images)
        pool_rows = [world.row(s, c) for cls in NOVEL for s in support_pool[cls] for c in range(world.contexts)]
        copies = len(NOVEL) - 1
        self.views, self.weak, self.randomised = {}, {}, {}
        todo: dict[str, list] = {"views": [], "weak": [], "randomised": []}
        for row in pool_rows:
            rng = row_rng("context-benchmark", "augment", row)
            todo["views"] += [augment.random_resized_crop(images[row], rng, CROP_SCALE, False) for _ in range(VIEWS)]
            if world.contexts > 1:
                todo["weak"] += [
                    augment.random_resized_crop(images[row], rng, CROP_SCALE, False) for _ in range(copies)
                ]
                todo["randomised"] += [background_randomisation(images[row], rng) for _ in range(copies)]
        for name, per in (("views", VIEWS), ("weak", copies), ("randomised", copies)):
            if todo[name]:
                feats = embedder(todo[name]).reshape(len(pool_rows), per, -1)
                setattr(self, name, dict(zip(pool_rows, feats)))


@dataclass
class Lookup:
    """Where an episode's embeddings come from: the world's tables and, for the generated methods, the bank of one
    generation seed and its generator (`ada_choices` collects GeNIe-Ada's r* when given)."""

    world: World
    tables: Tables
    bank: GeneratedBank | None = None
    gen: GenieGenerator | None = None
    ada_choices: list[float] | None = None


def extra_features(method: str, episode: Episode, rho: float, at: Lookup) -> tuple[np.ndarray | None, list[int]]:
    """The embeddings `method` adds to the episode (K(N-1) per class) and their labels."""
    world, tables, bank, gen, ada_choices = at.world, at.tables, at.bank, at.gen, at.ada_choices
    if method == "none":
        return None, []
    shots = episode.support.shape[1]
    ctx = episode.support_contexts(rho)
    feats, labels = [], []
    for j, target in enumerate(NOVEL):
        own = [(int(episode.support[j, k]), int(ctx[j, k])) for k in range(shots)]
        others = [
            (int(episode.support[i, k]), int(ctx[i, k])) for i in range(len(NOVEL)) if i != j for k in range(shots)
        ]
        budget = len(others)
        labels += [target] * budget
        if method in ("weak", "background_randomisation"):
            table = tables.weak if method == "weak" else tables.randomised
            feats += [table[world.row(*own[n % shots])][n // shots] for n in range(budget)]
        elif method == "oracle_composite":  # the target's own strokes over the other classes' support contexts
            feats += [tables.render[world.row(own[n % shots][0], c)] for n, (_, c) in enumerate(others)]
        elif method in OWN_IMAGE:
            keys = [(world.row(*own[n % shots]), target, OWN_IMAGE[method], n // shots) for n in range(budget)]
            feats += [f for _, f in bank.get(gen, keys)]
        elif method == "txt2img":  # no source enters; the source scan only names the sample (its seed)
            feats += [f for _, f in bank.get(gen, [(world.row(s, 0), target, 1.0, 0) for s, _ in others])]
        elif method == "genie_ada":
            proto = tables.render[[world.row(*o) for o in own]].mean(axis=0)
            for s, c in others:
                sweep = np.stack([f for _, f in bank.get(gen, [(world.row(s, c), target, g, 0) for g in DEFAULT_GRID])])
                choice = ada_select(tables.render[world.row(s, c)], sweep, proto)[0]
                feats.append(sweep[choice])
                if ada_choices is not None:
                    ada_choices.append(DEFAULT_GRID[choice])
        else:  # genie (r = 0.8) and the ablation's genie_{r}
            ratio = GENIE_RATIO if method == "genie" else float(method.split("_")[1])
            feats += [f for _, f in bank.get(gen, [(world.row(s, c), target, ratio, 0) for s, c in others])]
    return np.stack(feats), labels


@dataclass
class Problem:
    """One episode's training sets (one per method) and its queries, ready for the linear probes."""

    methods: list[str]
    train_sets: list[tuple[np.ndarray, list[int]]]
    query_x: np.ndarray
    query_y: np.ndarray
    groups: tuple[str, ...]


def episode_problem(methods: list[str], episode: Episode, rho: float, at: Lookup) -> Problem:
    """The support set (real images and their views) plus each method's extra images, and the query groups."""
    world, tables = at.world, at.tables
    ctx = episode.support_contexts(rho)
    rows = [world.row(int(s), int(c)) for s, c in zip(episode.support.ravel(), ctx.ravel())]
    support_y = [c for c in NOVEL for _ in range(episode.support.shape[1])]
    base_x = np.concatenate([tables.render[rows], np.concatenate([tables.views[r] for r in rows])])
    base_y = support_y + [y for y in support_y for _ in range(VIEWS)]
    groups = GROUPS if world.contexts > 1 else ("all",)
    query_rows = []
    for g in groups:
        contexts = episode.query_contexts["aligned" if g == "all" else g]
        query_rows += [world.row(int(s), int(c)) for s, c in zip(episode.query.ravel(), contexts.ravel())]
    query_y = np.tile([c for c in NOVEL for _ in range(episode.query.shape[1])], len(groups))
    train_sets = []
    for method in methods:
        extra, extra_y = extra_features(method, episode, rho, at)
        train_sets.append((base_x if extra is None else np.concatenate([base_x, extra]), base_y + extra_y))
    return Problem(methods, train_sets, tables.render[query_rows], query_y, groups)


def accuracies(problems: list[Problem], jobs: int, desc: str) -> list[dict[str, dict[str, float]]]:
    """Per problem and method, the linear probe's accuracy on each query group (the fits in `jobs` processes)."""
    from joblib import Parallel, delayed

    work = (delayed(linear_probe_predictions)(p.train_sets, p.query_x) for p in problems)
    predicted = Parallel(n_jobs=jobs, return_as="generator")(work)
    out = []
    for problem, preds in zip(problems, tqdm(predicted, total=len(problems), desc=desc, unit="episode")):
        out.append(
            {
                m: {
                    g: float(r.mean())
                    for g, r in zip(problem.groups, np.split(pred == problem.query_y, len(problem.groups)))
                }
                for m, pred in zip(problem.methods, preds)
            }
        )
    return out


def fill_bank(bank: GeneratedBank, gen: GenieGenerator, world: World, support_pool: dict, methods: list[str]) -> None:
    """Every image the methods can ask for, generated up front in full batches (one engine call per r)."""
    renders = [(s, c, cls) for cls in NOVEL for s in support_pool[cls] for c in range(world.contexts)]
    keys = []
    if "genie" in methods or "genie_ada" in methods or any(m in ABLATION for m in methods):
        keys += [(world.row(s, c), t, g, 0) for s, c, cls in renders for t in NOVEL if t != cls for g in DEFAULT_GRID]
    if "txt2img" in methods:
        keys += [(world.row(s, 0), t, 1.0, 0) for cls in NOVEL for s in support_pool[cls] for t in NOVEL if t != cls]
    for method, ratio in OWN_IMAGE.items():
        if method in methods:
            keys += [(world.row(s, c), cls, ratio, k) for s, c, cls in renders for k in range(len(NOVEL) - 1)]
    bank.get(gen, keys, progress=f"{world.name} world, generation seed {bank.seed}")


def bootstrap(values: np.ndarray, resamples: int, seed: int = 0) -> dict[str, float]:
    """Mean and 95% interval of `values` (seeds, episodes): generation seeds resampled as clusters, then episodes
    within each (the protocol's two-level bootstrap)."""
    rng = np.random.default_rng(seed)
    seeds, n = values.shape
    means = np.empty(resamples)
    for start in range(0, resamples, 500):
        b = min(500, resamples - start)
        pick = rng.integers(0, seeds, (b, seeds))
        within = rng.integers(0, n, (b, seeds, n))
        means[start : start + b] = values[pick[..., None], within].mean(axis=(1, 2))
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high)}


def verdict(gain: dict, control: dict, interaction: dict) -> tuple[str, list[str]]:
    """The pre-registered falsification rule on (GeNIe - Txt2Img conflicting at rho 1.0, at rho 0.2, interaction)."""
    reasons = []
    if gain["high"] < 0.02:
        reasons.append(f"the upper bound of GeNIe - Txt2Img ({100 * gain['high']:+.2f}) is below +2 points")
    if interaction["low"] <= 0 <= interaction["high"]:
        reasons.append("the interaction's interval includes 0")
    if control["mean"] >= gain["mean"]:
        reasons.append("the gain is as large in the control (rho = 0.2)")
    if reasons:
        return "not supported", reasons
    if gain["low"] > 0 and interaction["low"] > 0:
        return "supported", []
    return "inconclusive", ["neither rule's conditions all hold"]


def run_world(
    world: World,
    gen: GenieGenerator,
    embedder: Embedder,
    args: argparse.Namespace,
    methods: list[str],
    rhos: tuple[float, ...],
    on_condition: Callable[[dict], None] | None = None,
    check_gap: Callable[[dict], bool] | None = None,
) -> dict:
    """Accuracies `acc[shot][rho][method][group]` as (generation seeds, mappings x episodes) arrays, and Ada's r*."""
    images = world.images()
    support_pool, query_pool = pools(world, args.pool)
    tables = Tables(world, embedder, images, support_pool)
    classic = [m for m in methods if m in CLASSIC]
    generated = [m for m in methods if m not in CLASSIC]
    episodes = {
        shots: [
            e for m in args.mappings for e in sample_episodes(world, support_pool, query_pool, shots, m, args.episodes)
        ]
        for shots in args.shots
    }
    acc: dict = {shots: {rho: {} for rho in rhos} for shots in args.shots}
    ada: dict = {shots: [] for shots in args.shots}
    for shots, eps in episodes.items():  # the classic methods first: P4 needs "none" only
        for rho in rhos if classic else ():
            problems = [episode_problem(classic, e, rho, Lookup(world, tables)) for e in eps]
            rows = accuracies(problems, args.jobs, f"{world.name}: classic methods, {shots}-shot, rho {rho}")
            for m in classic:
                acc[shots][rho][m] = {g: np.array([[r[m][g] for r in rows]]) for g in rows[0][m]}
    if check_gap is not None and not check_gap(acc):
        return {"acc": acc, "ada": ada, "stopped": True}
    per_seed: dict = {shots: {rho: {m: [] for m in generated} for rho in rhos} for shots in args.shots}
    for seed in args.gen_seeds:
        bank = GeneratedBank(images, embedder, digits_prompt_map(), seed=seed)
        fill_bank(bank, gen, world, support_pool, generated)
        for shots, eps in episodes.items():
            for rho in rhos:
                wanted = [m for m in generated if rho == 1.0 or m not in ABLATION]
                at = Lookup(world, tables, bank, gen, ada[shots] if rho == 1.0 else None)
                problems = [episode_problem(wanted, e, rho, at) for e in eps]
                rows = accuracies(problems, args.jobs, f"{world.name}: {shots}-shot, rho {rho}, seed {seed}")
                for m in wanted:
                    per_seed[shots][rho][m].append({g: [r[m][g] for r in rows] for g in rows[0][m]})
        if on_condition is not None:
            on_condition({"seed": seed})
    for shots in args.shots:
        for rho in rhos:
            for m, seeds in per_seed[shots][rho].items():
                if seeds:
                    acc[shots][rho][m] = {g: np.array([s[g] for s in seeds]) for g in seeds[0]}
            for m in classic:  # classic methods do not depend on the generation seed: the same row for each
                acc[shots][rho][m] = {g: np.repeat(v, len(args.gen_seeds), 0) for g, v in acc[shots][rho][m].items()}
    return {"acc": acc, "ada": ada, "stopped": False}


def summarise_context(result: dict, args: argparse.Namespace) -> dict:
    """Every method and difference with its interval, the interaction, the verdict and Ada's r* histogram."""
    out = {}
    for shots, per_rho in result["acc"].items():
        key = f"{shots}-shot"
        out[key] = {"conditions": {}, "r_star": {}}
        for rho, methods in per_rho.items():
            cond = {"methods": {}, "differences": {}}
            for m, groups in methods.items():
                cond["methods"][m] = {g: bootstrap(v, args.bootstrap) for g, v in groups.items()}
                cond["methods"][m]["gap"] = bootstrap(groups["aligned"] - groups["conflicting"], args.bootstrap)
            for a, b in [*DIFFERENCES, *((m, "txt2img") for m in ABLATION)]:
                if a in methods and b in methods:
                    cond["differences"][f"{a} - {b}"] = {
                        g: bootstrap(methods[a][g] - methods[b][g], args.bootstrap) for g in GROUPS
                    }
            out[key]["conditions"][f"rho={rho}"] = cond
        main, control = per_rho[1.0], per_rho[0.2]
        gain = main["genie"]["conflicting"] - main["txt2img"]["conflicting"]
        base = control["genie"]["conflicting"] - control["txt2img"]["conflicting"]
        interaction = bootstrap(gain - base, args.bootstrap)
        g1 = out[key]["conditions"]["rho=1.0"]["differences"]["genie - txt2img"]["conflicting"]
        g0 = out[key]["conditions"]["rho=0.2"]["differences"]["genie - txt2img"]["conflicting"]
        out[key]["interaction"] = interaction
        out[key]["verdict"], out[key]["reasons"] = verdict(g1, g0, interaction)
        ada_gain = main["genie_ada"]["conflicting"] - main["txt2img"]["conflicting"]
        ada_interaction = bootstrap(
            ada_gain - (control["genie_ada"]["conflicting"] - control["txt2img"]["conflicting"]), args.bootstrap
        )
        a1 = out[key]["conditions"]["rho=1.0"]["differences"]["genie_ada - txt2img"]["conflicting"]
        a0 = out[key]["conditions"]["rho=0.2"]["differences"]["genie_ada - txt2img"]["conflicting"]
        out[key]["genie_ada_verdict"] = verdict(a1, a0, ada_interaction)[0]
        counts = {
            str(g): int(n)
            for g, n in zip(
                DEFAULT_GRID,
                np.bincount([DEFAULT_GRID.index(r) for r in result["ada"][shots]], minlength=len(DEFAULT_GRID)),
            )
        }
        out[key]["r_star"] = counts
    return out


def summarise_ablation(acc: dict, args: argparse.Namespace, group: str) -> dict:
    """GeNIe at each r of the grid against Txt2Img (rho = 1.0), paired: `{shot: {method: {accuracy, minus_txt2img}}}`."""
    out = {}
    for shots, per_rho in acc.items():
        methods = per_rho[1.0]
        rows = {}
        for m in ["genie_0.5", "genie_0.6", "genie_0.7", "genie", "genie_0.9", "txt2img"]:
            rows["genie_0.8" if m == "genie" else m] = {
                "accuracy": bootstrap(methods[m][group], args.bootstrap),
                "minus_txt2img": bootstrap(methods[m][group] - methods["txt2img"][group], args.bootstrap),
            }
        out[f"{shots}-shot"] = rows
    return out


def pct(d: dict) -> str:
    return f"{100 * d['mean']:.1f} [{100 * d['low']:.1f}, {100 * d['high']:.1f}]"


def signed(d: dict) -> str:
    return f"{100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]"


def markdown(report: dict) -> str:
    """context.md: the preconditions, then (if they hold) every table of the report."""
    lines = [
        f"Measured with `{report['command']}` (genie-transforms {report['library_version']}, {report['steps']} steps, "
        f"{report['machine']}; {report['seconds'] / 60:.0f} minutes).",
        "",
        "**Preconditions** (measured before any accuracy; oracles that are not the evaluation's backbone):",
        "",
        "| | value | threshold | holds |",
        "| --- | --- | --- | --- |",
    ]
    for name, row in report["preconditions"].items():
        lines.append(f"| {name} | {100 * row['value']:.1f}% | {100 * row['threshold']:.0f}% | {row['holds']} |")
    curves = report["precondition_curves"]
    lines += ["", "| r | reads as target | reads as source | keeps source's context |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {c['r']} | {100 * c['reads_as_target']:.1f}% | {100 * c['reads_as_source']:.1f}% | "
        f"{100 * c['keeps_source_context']:.1f}% |"
        for c in curves["curves"]
    ]
    if report["result"] != "complete":
        return "\n".join([*lines, "", f"**No accuracy result: {report['result']}.**", ""])
    for key, shot in report["context"].items():
        lines += ["", f"### 5-way {key}: verdict **{shot['verdict']}**", ""]
        if shot["reasons"]:
            lines += ["Because " + "; ".join(shot["reasons"]) + ".", ""]
        lines += [
            f"Interaction (GeNIe - Txt2Img, conflicting, rho 1.0 minus rho 0.2): {signed(shot['interaction'])} "
            f"points. GeNIe-Ada against Txt2Img by the same rule: {shot['genie_ada_verdict']}. GeNIe-Ada's r*: "
            + ", ".join(f"{r}: {n}" for r, n in shot["r_star"].items())
            + ".",
            "",
        ]
        for cond, data in shot["conditions"].items():
            lines += [f"**{cond}** (accuracy %, 95% interval)", ""]
            lines += [
                "| method | conflicting | aligned | random | aligned - conflicting |",
                "| --- | --- | --- | --- | --- |",
            ]
            lines += [
                f"| {m} | {pct(g['conflicting'])} | {pct(g['aligned'])} | {pct(g['random'])} | {pct(g['gap'])} |"
                for m, g in data["methods"].items()
            ]
            lines += [
                "",
                "| paired difference (points) | conflicting | aligned | random |",
                "| --- | --- | --- | --- |",
            ]
            lines += [
                f"| {name} | {signed(d['conflicting'])} | {signed(d['aligned'])} | {signed(d['random'])} |"
                for name, d in data["differences"].items()
            ]
            lines.append("")
    lines += ["### The r ablation (rho = 1.0; the context world on conflicting queries, the digits on all)", ""]
    for world, per_shot in report["ablation"].items():
        for key, rows in per_shot.items():
            lines += [f"**{world}, 5-way {key}**", "", "| method | accuracy | minus Txt2Img |", "| --- | --- | --- |"]
            lines += [f"| {m} | {pct(r['accuracy'])} | {signed(r['minus_txt2img'])} |" for m, r in rows.items()]
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=200, help="episodes per (shot, rho, mapping)")
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--pool", type=int, default=10, help="support scans per novel class")
    parser.add_argument("--gen-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--mappings", type=int, nargs="+", default=[0, 1], help="context-mapping seeds")
    parser.add_argument("--steps", type=int, default=20, help="denoising schedule (20: preset='fast')")
    parser.add_argument("--pairs", type=int, default=500, help="(source, target) pairs of the preconditions")
    parser.add_argument("--bootstrap", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--model", default="genie-tiny-context", help="the context world's model")
    parser.add_argument("--backbone", type=Path, default=None, help="the context world's backbone (a folder)")
    parser.add_argument("--jobs", type=int, default=2, help="processes fitting the linear probes")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--smoke", action="store_true", help="toy run for the tests: tables even if P1-P4 fail")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    settings = {"num_inference_steps": args.steps, "batch_size": 64, "progress": False}
    gen = GenieGenerator.from_pretrained(args.model, **settings)
    if args.backbone is None:
        embedder = context_embedder()
    else:
        from genie_transforms.digits import load_digits_backbone
        from genie_transforms.embedders import default_preprocess

        embedder = Embedder(load_digits_backbone(args.backbone), default_preprocess(32), name=str(args.backbone))
    report: dict = {
        "command": " ".join(["python benchmarks/context.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, CPU",
        "library_version": __version__,
        "model_id": gen.model_id,
        "model_revision": gen.model_revision,
        "steps": args.steps,
        "settings": {
            k: getattr(args, k) for k in ("episodes", "shots", "pool", "gen_seeds", "mappings", "bootstrap", "jobs")
        },
        "smoke": args.smoke,
    }

    def save() -> None:
        report["seconds"] = round(time.time() - started, 1)
        (args.out / "context.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "context.md").write_text(markdown(report))

    curves = measure_preconditions(gen, args.pairs, progress=True)
    report["timing"] = {"preconditions_s": round(time.time() - started, 1)}
    report["precondition_curves"] = curves
    report["preconditions"] = dict(curves["preconditions"])
    report["result"] = "running"
    if not args.smoke and not all(p["holds"] for p in report["preconditions"].values()):
        report["result"] = "a generation-level precondition fails (P1-P3)"
        save()
        return report

    def check_gap(acc: dict) -> bool:
        none = acc[min(args.shots)][1.0]["none"]
        gap = float((none["aligned"] - none["conflicting"]).mean())
        report["preconditions"]["P4_none_gap_rho1_1shot"] = {"value": gap, "threshold": 0.10, "holds": gap >= 0.10}
        print(f"P4: the none method's aligned - conflicting gap {100 * gap:.1f} points (threshold 10)")
        if gap < 0.10 and not args.smoke:
            report["result"] = "the none method's context gap is under 10 points (P4)"
            save()
            return False
        return True

    methods = [*CLASSIC, *GENERATED, *ABLATION]
    world = World("context", *digits_split_novel(), contexts=len(CONTEXT_NAMES))
    context = run_world(world, gen, embedder, args, methods, RHOS, on_condition=lambda _: save(), check_gap=check_gap)
    if context["stopped"]:
        return report
    report["timing"]["context_world_s"] = round(time.time() - started - report["timing"]["preconditions_s"], 1)
    report["context"] = summarise_context(context, args)
    report["ablation"] = {"context world (conflicting)": summarise_ablation(context["acc"], args, "conflicting")}
    save()
    digits_gen = GenieGenerator.from_pretrained("genie-tiny-digits", **settings)
    plain = World("digits", *digits_split_novel(), contexts=1)
    digits = run_world(plain, digits_gen, digits_embedder(), args, ["genie", "txt2img", *ABLATION], (1.0,))
    report["ablation"]["digits world (all queries)"] = summarise_ablation(digits["acc"], args, "all")
    report["timing"]["digits_world_s"] = round(time.time() - started - sum(report["timing"].values()), 1)
    report["result"] = "complete"
    save()
    print(markdown(report))
    return report


def digits_split_novel() -> tuple[np.ndarray, np.ndarray]:
    """The held-out split's scans of the novel classes (plain), and their labels."""
    scans, labels, _ = digits_arrays("heldout")
    keep = np.isin(labels, NOVEL)
    return scans[keep], labels[keep]


if __name__ == "__main__":
    main()
