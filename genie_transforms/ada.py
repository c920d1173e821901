"""GeNIe-Ada: choose the noise ratio per (source, target) pair from the classifier's own view of the semantic jump.

For each pair: generate at every r of a grid with the same noise, embed the source and every generated image with
the classifier's frozen backbone (L2-normalised), project each on `v = p - e_source` (`p`: the target's
prototype, the mean normalised embedding of its real images), and keep the image right after the largest jump
between neighbours: `r* = r[argmax |s[i+1] - s[i]| + 1]`, the first index on ties (docs/guides/method.md).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .embedders import Embedder
from .errors import GenieWarning
from .filtering import HardNegativeFilter
from .generator import GenieGenerator, GenieOutput, GenieRecord, apply_filter, check_noise_ratio, denoising_steps
from .images import content_hash, to_rgb
from .prompts import PromptMap
from .settings import ADA_MODES, CHEAP_ADA_STEPS, IMAGE_SETTINGS

DEFAULT_GRID = (0.5, 0.6, 0.7, 0.8, 0.9)
MODES = ADA_MODES
TABLE_SETTINGS = IMAGE_SETTINGS
"""The generation settings every noise-table row records. The first six are applied when the table regenerates
its images; the dtype and the model family must match."""


def table_settings(generator: GenieGenerator) -> dict[str, Any]:
    """The values of [`TABLE_SETTINGS`] that `generator` generates with."""
    return {
        "num_inference_steps": generator.num_inference_steps,
        "guidance_scale": generator.guidance_scale,
        "scheduler": generator.scheduler_name,
        "timestep_spacing": generator.options.timestep_spacing,
        "resolution": generator.resolution,
        "noise_rule": generator.options.noise_rule,
        "dtype": generator.dtype_name,
        "model_family": generator.model_family,
    }


def source_hash(image: Any) -> str:
    """The identity of a source image as a noise table records it: a hash of its RGB pixels and size."""
    return content_hash(to_rgb(image)[0])


def check_grid(grid: Sequence[float], num_inference_steps: int) -> tuple[float, ...]:
    """A valid Ada grid: at least two distinct ratios in (0, 1], strictly increasing, each with >= 1 step."""
    values = tuple(float(r) for r in grid)
    if len(values) < 2:
        raise ValueError(f"The Ada grid needs at least two noise ratios to measure a jump, got {list(values)}.")
    for r in values:
        check_noise_ratio(r, num_inference_steps)
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError(f"The Ada grid must be strictly increasing, got {list(values)}.")
    return values


def _min_distinct_steps(grid: Sequence[float]) -> int:
    """The smallest schedule on which every grid point runs its own number of denoising steps."""
    return next(n for n in range(1, 1001) if len({denoising_steps(r, n) for r in grid}) == len(grid))


def ada_select(source: np.ndarray, generated: np.ndarray, prototype: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """The reference rule on embeddings: returns (chosen grid index, projections s, jumps d).

    `source` (dim,), `generated` (len(grid), dim) and `prototype` (dim,) are used as given (normalise them first).
    `s[i] = <generated[i], v> / ||v||` with `v = prototype - source`; `d[i] = |s[i+1] - s[i]|`; the choice is
    `argmax(d) + 1` (numpy's argmax takes the first index on ties).
    """
    source, generated, prototype = np.asarray(source), np.asarray(generated), np.asarray(prototype)
    if generated.ndim != 2 or len(generated) < 2:
        raise ValueError(f"`generated` must be (grid size >= 2, dim), got shape {generated.shape}.")
    if source.shape != prototype.shape or source.shape != generated.shape[1:]:
        raise ValueError(
            f"Shapes differ: source {source.shape}, prototype {prototype.shape}, generated {generated.shape}."
        )
    v = prototype - source
    norm = np.linalg.norm(v)
    if norm == 0:
        raise ValueError("The source embedding equals the target prototype; the direction v = p - e_source is 0.")
    s = generated @ v / norm
    d = np.abs(np.diff(s))
    return int(np.argmax(d)) + 1, s, d


def class_prototypes(embedder: Embedder, images: Sequence[Any], labels: Sequence[int]) -> dict[int, np.ndarray]:
    """Each class's prototype: the mean of the L2-normalised embeddings of its real images."""
    if len(images) != len(labels) or not len(images):
        raise ValueError("class_prototypes needs as many labels as images, and at least one image.")
    feats = embedder(images)
    label_array = np.asarray(labels)
    return {int(c): feats[label_array == c].mean(axis=0) for c in np.unique(label_array)}


@dataclass
class AdaOutput:
    """What [`GenieAda.run`] returns: the chosen image per pair, its record, and one noise-table row per pair."""

    images: Any
    records: list[GenieRecord]
    table: list[dict[str, Any]]

    @property
    def labels(self) -> list[int]:
        return [r.target for r in self.records]


class GenieAda:
    """GeNIe-Ada over a `GenieGenerator` and an `Embedder`.

    Args:
        generator (`GenieGenerator`): the engine.
        embedder (`Embedder`): the classifier's frozen backbone (see `genie_transforms.embedders`).
        grid (sequence of `float`, defaults to `(0.5, 0.6, 0.7, 0.8, 0.9)`): the noise ratios to choose from.
        mode (`str`, defaults to `"exact"`): `"exact"` generates every grid point in full (the reference rule);
            `"cheap"` starts every grid point exactly where the exact rule starts it (the same noise, the same
            start timestep or sigma), runs only `cheap_steps` steps of a short schedule from there to compare them,
            and generates in full only at the chosen r (see the README for its measured agreement and cost).
        cheap_steps (`int`, defaults to `settings.CHEAP_ADA_STEPS`): the short schedule's steps per grid point in the cheap sweep.
    """

    def __init__(
        self,
        generator: GenieGenerator,
        embedder: Embedder,
        grid: Sequence[float] = DEFAULT_GRID,
        mode: str = "exact",
        cheap_steps: int = CHEAP_ADA_STEPS,
    ) -> None:
        if not isinstance(embedder, Embedder):
            raise TypeError(f"`embedder` must be a genie_transforms.embedders.Embedder, got {type(embedder).__name__}.")
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}.")
        if isinstance(cheap_steps, bool) or not isinstance(cheap_steps, int) or cheap_steps < 1:
            raise ValueError(
                f"`cheap_steps` must be an int >= 1 (the short schedule of the cheap sweep), got {cheap_steps!r}."
            )
        self.generator = generator
        self.embedder = embedder
        self.mode = mode
        self.cheap_steps = cheap_steps
        self.grid = check_grid(grid, generator.num_inference_steps)
        steps = [denoising_steps(r, generator.num_inference_steps) for r in self.grid]
        if len(set(steps)) != len(steps):
            warnings.warn(
                f"With {generator.num_inference_steps} steps, neighbouring grid points start at the same step "
                f"({dict(zip(self.grid, steps))}): their images are identical and the jump between them is 0, so r* "
                f"is unreliable. Use num_inference_steps >= {_min_distinct_steps(self.grid)} for this grid.",
                GenieWarning,
                stacklevel=2,
            )

    def run(
        self,
        images: Sequence[Any],
        targets: Sequence[int],
        *,
        prototypes: Mapping[int, np.ndarray],
        seed: int,
        prompts: PromptMap | Sequence[str] | Mapping[int, str],
        source_ids: Sequence[str | int] | None = None,
        source_labels: Sequence[int] | None = None,
        batch_size: int | None = None,
        hard_negative_filter: HardNegativeFilter | None = None,
    ) -> AdaOutput:
        """Choose r* for each (images[i], targets[i]) pair and return the image generated at it.

        With a `hard_negative_filter`, each chosen image also gets the filter's decision (`filter_kept`,
        `filter_score` in its record and its noise-table row); `source_labels` then keep the source's own class
        out of the third classes."""
        images, targets = list(images), [int(t) for t in targets]
        n = len(images)
        if n == 0 or len(targets) != n:
            raise ValueError(
                f"`images` and `targets` must be non-empty and of equal length, got {n} and {len(targets)}."
            )
        missing = sorted({t for t in targets if t not in prototypes})
        if missing:
            raise ValueError(
                f"Target classes {missing} have no prototype: give real images of them to class_prototypes()."
            )
        sweep = self.generator.sweep(
            images,
            targets,
            self.grid,
            seed=seed,
            prompts=prompts,
            source_ids=None if source_ids is None else [str(s) for s in source_ids],
            batch_size=batch_size,
            progress=False,
            short_steps=self.cheap_steps if self.mode == "cheap" else None,
        )
        ids = [row[0].source_id for row in sweep.records]  # given, or the engine's default (a pixel hash)
        source_feats = self.embedder(images)
        sweep_feats = self.embedder(sweep.flat()).reshape(n, len(self.grid), -1)
        choices = [ada_select(source_feats[i], sweep_feats[i], prototypes[targets[i]]) for i in range(n)]
        r_star = [self.grid[c[0]] for c in choices]
        if self.mode == "exact":
            chosen = sweep.pick([c[0] for c in choices])
        else:
            chosen = self.generator.generate(
                images,
                targets,
                r_star,
                seed=seed,
                prompts=prompts,
                source_ids=ids,
                batch_size=batch_size,
                progress=False,
            )
        if hard_negative_filter is not None:
            chosen = apply_filter(chosen, hard_negative_filter, source_labels)
        settings = table_settings(self.generator)
        table = [
            {
                "source_id": ids[i],
                "source_label": None if source_labels is None else int(source_labels[i]),
                "target": targets[i],
                "r_star": r_star[i],
                "grid": list(self.grid),
                "projections": choices[i][1].tolist(),
                "jumps": choices[i][2].tolist(),
                "mode": self.mode,
                "cheap_steps": self.cheap_steps if self.mode == "cheap" else None,
                "embedder": self.embedder.name,
                "seed": seed,
                "noise_seed": chosen.records[i].noise_seed,
                "model_id": chosen.records[i].model_id,
                "model_revision": chosen.records[i].model_revision,
                "source_sha256": source_hash(images[i]),
                **settings,
                **(
                    {"filter_kept": chosen.records[i].filter_kept, "filter_score": chosen.records[i].filter_score}
                    if hard_negative_filter is not None
                    else {}
                ),
            }
            for i in range(n)
        ]
        return AdaOutput(images=chosen.images, records=chosen.records, table=table)


def _source_id(row: Mapping[str, Any]) -> str:
    if row.get("source_id") is not None:
        return str(row["source_id"])
    if row.get("source_index") is not None:
        return str(row["source_index"])
    raise ValueError("A noise-table row needs a `source_id` or a `source_index`.")


def generate_from_table(
    generator: GenieGenerator,
    images: Sequence[Any],
    table: Sequence[Mapping[str, Any]],
    prompts: PromptMap | Sequence[str] | Mapping[int, str],
    batch_size: int | None = None,
) -> GenieOutput:
    """Reproduce Ada's chosen images from a noise table, without the sweep or the embedder: each row is generated
    at its `r_star` with its seed and source id (the same noise as in the sweep), with the generation settings the
    table records ([`TABLE_SETTINGS`]: steps, guidance, scheduler... are applied; another dtype or model family is
    refused). Rows are dicts or the rows of a noise-table `Dataset` (`target`, `r_star`, `seed`, and `source_id` or
    `source_index`). A row whose `r_star` is not on its grid, or whose recorded `source_sha256` is not the image
    given for it, is refused."""
    rows = list(table)
    if len(rows) != len(images):
        raise ValueError(f"Got {len(images)} images for {len(rows)} noise-table rows; give one source image per row.")
    generator = _with_table_settings(generator, rows)
    for i, row in enumerate(rows):
        grid = row.get("grid")
        if grid is not None and not any(abs(float(row["r_star"]) - float(g)) < 1e-6 for g in grid):
            raise ValueError(f"Noise-table row {i}: r_star={row['r_star']} is not on its grid {list(grid)}.")
    wrong = [
        i for i, row in enumerate(rows) if row.get("source_sha256") and source_hash(images[i]) != row["source_sha256"]
    ]
    if wrong:
        raise ValueError(
            f"{len(wrong)} of {len(rows)} noise-table rows (rows {wrong[:10]}) were made from other source images "
            "than the ones given: pass the source split (and rows) the table was made from"
            + (f" (it records split {rows[0]['source_split']!r})." if rows[0].get("source_split") else ".")
        )
    seeds = {int(r["seed"]) for r in rows}
    outputs: list = [None] * len(rows)
    records: list = [None] * len(rows)
    for seed in sorted(seeds):
        idx = [i for i, r in enumerate(rows) if int(r["seed"]) == seed]
        out = generator.generate(
            [images[i] for i in idx],
            [int(rows[i]["target"]) for i in idx],
            [float(rows[i]["r_star"]) for i in idx],
            seed=seed,
            prompts=prompts,
            source_ids=[_source_id(rows[i]) for i in idx],
            batch_size=batch_size,
            progress=False,
        )
        for j, i in enumerate(idx):
            outputs[i], records[i] = out.images[j], out.records[j]
    return GenieOutput(images=outputs, records=records)


def _with_table_settings(generator: GenieGenerator, rows: list[Mapping[str, Any]]) -> GenieGenerator:
    """`generator` with the settings the table's rows record (one set for the whole table); a table without them
    (made before they were recorded) keeps the generator's."""
    recorded = [{k: row[k] for k in TABLE_SETTINGS if k in row} for row in rows]
    if not recorded or not recorded[0]:
        return generator
    if any(r != recorded[0] for r in recorded):
        raise ValueError("The noise table mixes rows of different generation settings; regenerate one job at a time.")
    settings, current = dict(recorded[0]), table_settings(generator)
    for key in ("dtype", "model_family"):
        mine = current[key]
        if key in settings and settings.pop(key) != mine:
            raise ValueError(
                f"The noise table was made with {key}={recorded[0][key]!r}, this generator has {mine!r}; load the "
                f"model as the table records it (e.g. GenieGenerator.from_pretrained(..., dtype=...))."
            )
    if settings.get("resolution") is not None:
        settings["resolution"] = int(settings["resolution"])
    if settings.get("num_inference_steps") is not None:
        settings["num_inference_steps"] = int(settings["num_inference_steps"])
    return generator.with_settings(**settings)


__all__ = [
    "DEFAULT_GRID",
    "MODES",
    "TABLE_SETTINGS",
    "AdaOutput",
    "GenieAda",
    "ada_select",
    "check_grid",
    "class_prototypes",
    "generate_from_table",
    "source_hash",
    "table_settings",
]
