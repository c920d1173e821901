"""What the engine returns: one record of provenance per image, the images with their records, and r sweeps (as
diffusers keeps a pipeline's outputs beside the pipeline)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .filtering import HardNegativeFilter


@dataclass(frozen=True)
class GenieRecord:
    """Provenance of one generated image: everything that determines it."""

    source_id: str
    target: int
    target_name: str
    prompt: str
    prompt_template: str | None
    noise_ratio: float
    steps_run: int
    start_timestep: int
    text_to_image: bool
    seed: int
    noise_seed: int
    seed_scheme: str
    noise_scheme: str
    num_inference_steps: int
    guidance_scale: float
    scheduler: str
    timestep_spacing: str
    resolution: int
    dtype: str
    model_id: str | None
    model_revision: str | None
    model_variant: str | None
    adapters: tuple[dict[str, Any], ...]
    library_version: str
    model_family: str = "sd"
    noise_rule: str = "steps"
    start_sigma: float | None = None
    start_snr: float | None = None
    filter_rule: str | None = None
    filter_kept: bool | None = None
    filter_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenieOutput:
    """What [`GenieGenerator.generate`] returns: the images (in the input's form) and one record per row."""

    images: Any
    records: list[GenieRecord]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        """The label of each generated image: its target class."""
        return [r.target for r in self.records]

    def kept(self) -> GenieOutput:
        """The rows a [`HardNegativeFilter`] kept (all rows when no filter ran), as a list of images."""
        keep = [i for i, r in enumerate(self.records) if r.filter_kept is not False]
        return GenieOutput(images=[self.images[i] for i in keep], records=[self.records[i] for i in keep])


@dataclass
class GenieSweep:
    """What [`GenieGenerator.sweep`] returns: each (source, target) pair generated at every ratio of a grid with the
    pair's one noise tensor (one trajectory per pair), held pair by pair."""

    ratios: tuple[float, ...]
    images: list[list[Any]]  # images[i][j]: pair i at ratios[j]
    records: list[list[GenieRecord]]

    def __len__(self) -> int:
        return len(self.images)

    def flat(self) -> list[Any]:
        """Every image, pair by pair (pair 0 at each ratio, then pair 1, ...)."""
        return [image for row in self.images for image in row]

    def pick(self, choices: Sequence[int]) -> GenieOutput:
        """One image per pair: pair i's at `ratios[choices[i]]`."""
        if len(choices) != len(self):
            raise ValueError(f"Got {len(choices)} choices for {len(self)} pairs.")
        return GenieOutput(
            images=[row[j] for row, j in zip(self.images, choices)],
            records=[row[j] for row, j in zip(self.records, choices)],
        )


def apply_filter(
    out: GenieOutput,
    hard_negative_filter: HardNegativeFilter,
    source_labels: Sequence[int] | None,
) -> GenieOutput:
    """`out` with each record carrying the filter's decision and score (the images are unchanged)."""
    decisions = hard_negative_filter(list(out.images), out.labels, source_labels)
    rule = json.dumps(hard_negative_filter.config, sort_keys=True)
    records = [
        dataclasses.replace(r, filter_rule=rule, filter_kept=d.kept, filter_score=d.score)
        for r, d in zip(out.records, decisions)
    ]
    return GenieOutput(images=out.images, records=records)


__all__ = ["GenieOutput", "GenieRecord", "GenieSweep", "apply_filter"]
