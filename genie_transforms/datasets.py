"""Hugging Face `datasets` integration: hard negatives of an image-classification dataset with one `map` call.

Examples:
    >>> from genie_transforms import GenieGenerator
    >>> from genie_transforms.datasets import generate_hard_negatives
    >>> gen = GenieGenerator.from_pretrained("genie-tiny-digits")
    >>> negatives = generate_hard_negatives(ds, gen, noise_ratio=0.8, targets="random_k:1", seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Sequence as SequenceABC
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

try:
    import datasets
    from datasets import ClassLabel, Dataset, DatasetDict, Features, IterableDataset, IterableDatasetDict, List, Value
    from datasets import Image as ImageFeature
except ImportError as err:  # pragma: no cover - datasets is a core dependency
    raise ImportError('genie_transforms.datasets needs `datasets`: pip install "genie-transforms"') from err

from ._version import __version__
from .ada import TABLE_SETTINGS, GenieAda
from .filtering import HardNegativeFilter
from .generator import GenieGenerator, GenieRecord, check_noise_ratio
from .prompts import PromptMap
from .targets import TargetStrategy, get_strategy

logger = logging.getLogger(__name__)

ADA_COLUMNS = (
    "r_star",
    "grid",
    "projections",
    "jumps",
    "mode",
    "cheap_steps",
    "embedder",
    "source_sha256",
    *TABLE_SETTINGS,
)
PROVENANCE_COLUMNS = (
    "source_label",
    "source_index",
    "noise_ratio",
    "prompt",
    "prompt_template",
    "seed",
    "noise_seed",
    "noise_scheme",
    "model_id",
    "model_revision",
    "model_variant",
    "adapters",
)
FILTER_COLUMNS = ("filter_kept", "filter_score")
"""Added to every row when a `HardNegativeFilter` runs: its decision and score (see `genie_transforms.filtering`)."""


def output_features(
    label_feature: ClassLabel, keep_original: bool = False, ada: bool = False, filtered: bool = False
) -> Features:
    """The schema of the hard-negative rows; `label` is the **target** class, with the source's `ClassLabel`.
    Noise ratios are float64, so that a ratio read back from parquet is exactly the one generated with. With `ada`,
    the rows also carry their noise-table columns; with `filtered`, the filter's decision and score."""
    label = ClassLabel(names=list(label_feature.names))
    features = {
        "image": ImageFeature(),
        "label": label,
        "source_label": label,
        "source_index": Value("int64"),
        "noise_ratio": Value("float64"),
        "prompt": Value("string"),
        "prompt_template": Value("string"),
        "seed": Value("int64"),
        "noise_seed": Value("int64"),
        "noise_scheme": Value("string"),
        "model_id": Value("string"),
        "model_revision": Value("string"),
        "model_variant": Value("string"),
        "adapters": Value("string"),
    }
    if keep_original:
        features["is_generated"] = Value("bool")
    if ada:
        features.update(
            {
                "r_star": Value("float64"),
                "grid": List(Value("float64")),
                "projections": List(Value("float32")),
                "jumps": List(Value("float32")),
                "mode": Value("string"),
                "cheap_steps": Value("int64"),
                "embedder": Value("string"),
                "source_sha256": Value("string"),
                "num_inference_steps": Value("int64"),
                "guidance_scale": Value("float64"),
                "scheduler": Value("string"),
                "timestep_spacing": Value("string"),
                "resolution": Value("int64"),
                "noise_rule": Value("string"),
                "dtype": Value("string"),
                "model_family": Value("string"),
            }
        )
    if filtered:
        features.update({"filter_kept": Value("bool"), "filter_score": Value("float64")})
    return Features(features)


def noise_table(ds: Dataset) -> Dataset:
    """The GeNIe-Ada noise table of an Ada dataset: one row per (source index, target) with `r_star`, the grid,
    the projection curve, the jumps, the embedder, the prompt, the model id/revision and the seeds (no images)."""
    missing = [c for c in ADA_COLUMNS if c not in ds.column_names and c != "cheap_steps"]  # not in 0.2.0 tables
    if missing:
        raise ValueError(f"Not a GeNIe-Ada dataset: it lacks {missing}. Make one with `genie ada` or genie_ada_map.")
    table = ds.remove_columns([c for c in ("image", "is_generated") if c in ds.column_names])
    return table.rename_column("label", "target")


def prompt_map_for(
    features: Features, label_column: str, prompts: Any = None, generator: GenieGenerator | None = None
) -> PromptMap:
    """The prompt map of a dataset: `prompts` if given, else built from the label column's `ClassLabel` names, with
    the template the generator's model declares (see [`GenieGenerator.prompt_map`])."""
    if label_column not in features:
        raise ValueError(f"The dataset has no label column {label_column!r}; its columns are {list(features)}.")
    feature = features[label_column]
    if prompts is None:
        if not isinstance(feature, ClassLabel):
            raise ValueError(
                f"Column {label_column!r} is {feature!r}, not a ClassLabel with class names. Cast it "
                f"(ds.cast_column({label_column!r}, ClassLabel(names=[...]))) or pass prompts=PromptMap([...])."
            )
        prompts = list(feature.names)
    return generator.prompt_map(prompts) if generator is not None else PromptMap.coerce(prompts)


def check_dataset(ds: Dataset | IterableDataset, image_column: str, label_column: str) -> None:
    """Clear errors, before any generation, for what `generate_hard_negatives` cannot work with: not a split, a
    missing or mistyped column, no rows, rows labelled -1 (`datasets`' "no label")."""
    if isinstance(ds, (DatasetDict, IterableDatasetDict)):
        raise TypeError(f"Expected one split, got a {type(ds).__name__} with {list(ds)}; pick a split: ds['train'].")
    if not isinstance(ds, (Dataset, IterableDataset)):
        raise TypeError(
            f"Expected a datasets.Dataset or IterableDataset, got {type(ds).__name__} (pick a split: ds['train'])."
        )
    features = ds.features
    if features is None:
        raise ValueError("The streamed dataset does not say its features; cast them: ds.cast(Features({...})).")
    for column in (image_column, label_column):
        if column not in features:
            raise ValueError(f"The dataset has no column {column!r}; its columns are {list(features)}.")
    if not isinstance(features[image_column], ImageFeature):
        raise ValueError(
            f"Column {image_column!r} is {features[image_column]!r}, not an Image feature; "
            f"cast it: ds.cast_column({image_column!r}, datasets.Image())."
        )
    if isinstance(ds, IterableDataset):
        return  # a stream is checked row by row as it is read
    if len(ds) == 0:
        raise ValueError("The dataset is empty; there is nothing to generate hard negatives from.")
    unlabelled = np.flatnonzero(np.asarray(ds[label_column]) < 0)
    if len(unlabelled):
        raise ValueError(
            f"{len(unlabelled)} source rows are labelled -1 (no label), e.g. rows {unlabelled[:5].tolist()}; a hard "
            f"negative needs its source's class. Drop them first: ds.filter(lambda r: r[{label_column!r}] >= 0)."
        )


def _decode(value: Any, index: int, errors: str, min_size: int = 1) -> Any:
    """Decode one undecoded `Image` cell (bytes/path) to PIL; an image that cannot be decoded, or is smaller than
    `min_size` on its shorter side, raises naming the dataset row, or is skipped (logged)."""
    from PIL import UnidentifiedImageError

    path = value.get("path") if isinstance(value, dict) else getattr(value, "filename", None)
    where = f"row {index}" + (f" ({path})" if path else "")
    cause: BaseException | None = None
    try:
        image = ImageFeature().decode_example(value) if isinstance(value, dict) else value
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        problem, cause = f"has an image that cannot be decoded ({err})", err
    else:
        if min(image.size) >= min_size:
            return image
        problem, cause = f"is {image.width}x{image.height} px, smaller than min_image_size={min_size}", None
    if errors == "skip":
        logger.warning("Skipping source %s, which %s.", where, problem)
        return None
    raise ValueError(
        f"Source {where} {problem}. Fix or drop that file, or skip such images (they are logged and listed in "
        "job.json): --errors skip on the command line, errors='skip' in Python."
    ) from cause


@dataclass(frozen=True)
class Pair:
    """One hard negative to make in a batch: which decoded source, its dataset index and label, the target and r
    (None for GeNIe-Ada, which chooses r)."""

    position: int
    source_index: int
    source_label: int
    target: int
    noise_ratio: float | None


class MapFunction(Protocol):
    """The batch function of [`genie_map`] / [`genie_ada_map`] for ``ds.map(fn, batched=True, with_indices=True)``;
    `config` holds every setting that changes its rows (for fingerprints and `job.json`)."""

    config: dict[str, Any]
    generator: GenieGenerator

    def __call__(self, batch: dict[str, list], indices: list[int], rank: int | None = None) -> dict[str, list]: ...


Produce = Callable[[list, list[Pair]], tuple[list, list[GenieRecord], dict[str, list]]]
"""Makes the images of a batch's pairs: returns the images, their engine records and extra columns."""


def genie_map(
    generator: GenieGenerator,
    prompts: PromptMap | SequenceABC[str] | Mapping[int, str],
    *,
    noise_ratio: float | SequenceABC[float] = 0.8,
    targets: str | TargetStrategy | Mapping[str, Any] = "all_others",
    seed: int = 0,
    image_column: str = "image",
    label_column: str = "label",
    keep_original: bool = False,
    index_offset: int = 0,
    errors: str = "raise",
    hard_negative_filter: HardNegativeFilter | None = None,
) -> MapFunction:
    """A function for ``ds.map(fn, batched=True, with_indices=True, remove_columns=ds.column_names)`` (add
    ``with_rank=True`` for one GPU per worker) that emits the hard-negative rows of each batch.

    Each source row gives one row per (target, r): its targets come from the strategy (`"all_others"`, the
    paper's pairing, by default), its noise from (seed, source index, target). Rows are the same whatever the
    batch size, number of workers or shards. Cast the image column with `Image(decode=False)` to let corrupt
    images be reported by row (`errors="raise"`) or skipped (`errors="skip"`) instead of failing inside `datasets`
    ([`generate_hard_negatives`] does this for you).

    Args:
        generator (`GenieGenerator`): the engine.
        prompts (`PromptMap`, list or dict): class names/prompts by label index (names get the model's template).
        noise_ratio (`float` or list of floats, defaults to 0.8): one row per r for each (source, target).
        targets (strategy, defaults to `"all_others"`): see `genie_transforms.targets`.
        seed (`int`, defaults to 0): global seed.
        image_column (`str`, defaults to `"image"`): the source's image column.
        label_column (`str`, defaults to `"label"`): the source's label column.
        keep_original (`bool`, defaults to `False`): also emit the source rows, flagged `is_generated=False`.
        index_offset (`int`, defaults to 0): added to the indices `map` passes (for a contiguous shard).
        errors (`str`, defaults to `"raise"`): `"raise"` or `"skip"` for images that cannot be decoded.
        hard_negative_filter (`HardNegativeFilter`, *optional*): record on each row whether the filter keeps it
            (`filter_kept`, `filter_score`); every row is still emitted (drop the others with
            ``ds.filter(lambda kept: kept, input_columns="filter_kept")``).
    """
    prompt_map = generator.prompt_map(prompts)
    ratios = check_noise_ratios(noise_ratio, generator.num_inference_steps)

    def produce(sources: list, pairs: list[Pair]) -> tuple[list, list[GenieRecord], dict[str, list]]:
        out = generator.generate(
            [sources[p.position] for p in pairs],
            targets=[p.target for p in pairs],
            noise_ratio=[float(p.noise_ratio) for p in pairs],  # type: ignore[arg-type]  # set for every GeNIe pair
            seed=seed,
            prompts=prompt_map,
            source_ids=[str(p.source_index) for p in pairs],
            progress=False,
            hard_negative_filter=hard_negative_filter,
            source_labels=None if hard_negative_filter is None else [p.source_label for p in pairs],
        )
        return out.images, out.records, {}

    return _map_function(
        generator,
        produce,
        prompt_map,
        ratios,
        targets,
        seed,
        image_column,
        label_column,
        keep_original,
        index_offset,
        errors,
        {"noise_ratio": ratios},
        hard_negative_filter,
    )


def check_noise_ratios(noise_ratio: Any, num_inference_steps: int) -> list[float]:
    """One or several noise ratios, each valid and none repeated (a repeat would silently double every row)."""
    values = [noise_ratio] if np.ndim(noise_ratio) == 0 else list(noise_ratio)
    if not values:
        raise ValueError("`noise_ratio` is empty; give at least one r in (0, 1].")
    ratios = [check_noise_ratio(r, num_inference_steps) for r in values]
    repeated = sorted({r for r in ratios if ratios.count(r) > 1})
    if repeated:
        raise ValueError(f"`noise_ratio` repeats {repeated}; each r makes its own row, so give each r once.")
    return ratios


def genie_ada_map(
    ada: GenieAda,
    prompts: PromptMap | SequenceABC[str] | Mapping[int, str],
    prototypes: Mapping[int, Any],
    *,
    targets: str | TargetStrategy | Mapping[str, Any] = "all_others",
    seed: int = 0,
    image_column: str = "image",
    label_column: str = "label",
    index_offset: int = 0,
    errors: str = "raise",
    hard_negative_filter: HardNegativeFilter | None = None,
) -> MapFunction:
    """Like [`genie_map`], with GeNIe-Ada choosing r per (source, target) pair: each row is the image at `r_star`
    and carries its noise-table columns (`r_star`, `grid`, `projections`, `jumps`, `mode`, `embedder`), and the
    filter's decision on it with a `hard_negative_filter`."""
    prompt_map = ada.generator.prompt_map(prompts)

    def produce(sources: list, pairs: list[Pair]) -> tuple[list, list[GenieRecord], dict[str, list]]:
        out = ada.run(
            [sources[p.position] for p in pairs],
            [p.target for p in pairs],
            prototypes=prototypes,
            seed=seed,
            prompts=prompt_map,
            source_ids=[str(p.source_index) for p in pairs],
            source_labels=[p.source_label for p in pairs],
            hard_negative_filter=hard_negative_filter,
        )
        return out.images, out.records, {name: [row[name] for row in out.table] for name in ADA_COLUMNS}

    return _map_function(
        ada.generator,
        produce,
        prompt_map,
        [None],
        targets,
        seed,
        image_column,
        label_column,
        False,
        index_offset,
        errors,
        {
            "ada": {
                "grid": list(ada.grid),
                "mode": ada.mode,
                "cheap_steps": ada.cheap_steps,
                "embedder": ada.embedder.name,
                "embedder_identity": ada.embedder.identity,
            }
        },
        hard_negative_filter,
    )


def provenance(record: GenieRecord) -> dict[str, Any]:
    """The provenance columns of a generated row, from the engine's record (`source_label`/`source_index` aside),
    with the filter's decision when one ran."""
    return {
        "filter_kept": record.filter_kept,
        "filter_score": record.filter_score,
        "noise_ratio": record.noise_ratio,
        "prompt": record.prompt,
        "prompt_template": record.prompt_template,
        "seed": record.seed,
        "noise_seed": record.noise_seed,
        "noise_scheme": record.noise_scheme,
        "model_id": record.model_id,
        "model_revision": record.model_revision,
        "model_variant": record.model_variant,
        "adapters": json.dumps(list(record.adapters), sort_keys=True),
    }


def _map_function(
    generator: GenieGenerator,
    produce: Produce,
    prompt_map: PromptMap,
    ratios: list,
    targets: Any,
    seed: int,
    image_column: str,
    label_column: str,
    keep_original: bool,
    index_offset: int,
    errors: str,
    extra_config: dict[str, Any],
    hard_negative_filter: HardNegativeFilter | None = None,
) -> MapFunction:
    """The batch function shared by [`genie_map`] and [`genie_ada_map`]: decode sources, pair them with targets,
    call `produce(sources, pairs)` once per batch, and lay out the rows."""
    strategy = get_strategy(targets)
    if errors not in ("raise", "skip"):
        raise ValueError(f"`errors` must be 'raise' or 'skip', got {errors!r}.")
    classes = prompt_map.labels
    confusion = getattr(strategy, "confusion", None)
    if confusion is not None and len(confusion) != max(classes) + 1:
        raise ValueError(
            f"The confusion matrix is {len(confusion)}x{len(confusion)} but the dataset has {max(classes) + 1} "
            "classes; give the matrix of this dataset's classes, in label order."
        )
    columns = (
        "image",
        "label",
        *PROVENANCE_COLUMNS,
        *(("is_generated",) if keep_original else ()),
        *(FILTER_COLUMNS if hard_negative_filter is not None else ()),
    )

    def fn(batch: dict[str, list], indices: list[int], rank: int | None = None) -> dict[str, list]:
        if rank is not None:
            _place_on_rank(generator, rank)
        if image_column not in batch or label_column not in batch:
            raise ValueError(f"The batch lacks {image_column!r} or {label_column!r}; it has {list(batch)}.")
        rows: dict[str, list] = {name: [] for name in columns}

        def add(image: Any, label: int, source_label: int, index: int, generated: bool, values: Mapping[str, Any]):
            row = {
                "image": image,
                "label": label,
                "source_label": source_label,
                "source_index": index,
                "is_generated": generated,
                **values,
            }
            for name in columns:
                rows[name].append(row.get(name))

        sources: list[Any] = []
        pairs: list[Pair] = []
        for value, label, index in zip(batch[image_column], batch[label_column], indices):
            index = int(index) + index_offset
            image = _decode(value, index, errors, generator.options.min_image_size)
            if image is None:
                continue
            if int(label) < 0:
                raise ValueError(
                    f"Source row {index} is labelled {label} (no label); drop such rows first: "
                    f"ds.filter(lambda r: r[{label_column!r}] >= 0)."
                )
            label = prompt_map.index(int(label))
            if keep_original:
                add(image, label, label, index, False, {})
            for target in strategy(label, classes, source_id=str(index), seed=seed):
                pairs += [Pair(len(sources), index, label, target, r) for r in ratios]
            sources.append(image)
        extra: dict[str, list] = {}
        if pairs:
            images, records, extra = produce(sources, pairs)
            for pair, image, record in zip(pairs, images, records):
                add(image, pair.target, pair.source_label, pair.source_index, True, provenance(record))
        if extra_config.get("ada"):
            for name in ADA_COLUMNS:
                rows[name] = extra.get(name, [])
        return rows

    fn.generator = generator  # type: ignore[attr-defined]
    fn.config = {  # type: ignore[attr-defined]
        **extra_config,
        "targets": strategy.to_dict(),
        "seed": seed,
        "prompts": prompt_map.to_dict(),
        "prompt_template": prompt_map.template,
        "keep_original": keep_original,
        "errors": errors,
        "generator": generator.settings,
        "library_version": __version__,
        **({"filter": hard_negative_filter.config} if hard_negative_filter is not None else {}),
    }
    return cast(MapFunction, fn)


def job_fingerprint(parent: str, config: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> str:
    """A deterministic fingerprint of a generation job: the parent dataset's fingerprint and every setting that
    changes the output (model id and revision, settings, r, strategy, prompts, seed, library version)."""
    payload = json.dumps({"parent": parent, **config, **(extra or {})}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def generate_hard_negatives(
    ds: Dataset | IterableDataset,
    generator: GenieGenerator,
    *,
    prompts: PromptMap | SequenceABC[str] | Mapping[int, str] | None = None,
    noise_ratio: float | SequenceABC[float] = 0.8,
    targets: str | TargetStrategy | Mapping[str, Any] = "all_others",
    seed: int = 0,
    image_column: str = "image",
    label_column: str = "label",
    keep_original: bool = False,
    errors: str = "raise",
    batch_size: int = 16,
    num_proc: int | None = None,
    load_from_cache_file: bool | None = None,
    hard_negative_filter: HardNegativeFilter | None = None,
) -> Dataset | IterableDataset:
    """The hard negatives of `ds` as a new `Dataset`, with one `ds.map` call.

    A streamed `IterableDataset` (`load_dataset(..., streaming=True)`) gives an `IterableDataset` of the same rows,
    generated as you iterate (source ids are the row positions in the stream, as in the eager path); `num_proc` and
    the cache do not apply to it.

    Without `prompts`, the `ClassLabel` names make the prompts with the template the model declares. The output has
    the full `features` (the target `label` with the source's `ClassLabel`, provenance columns) and a
    deterministic fingerprint from (parent fingerprint, model id and revision, settings, prompts, seed, version).
    A second identical call reads the result back from the `datasets` cache instead of generating again: next to
    the source's cache files, or, for a dataset held in memory (`Dataset.from_dict`, `load_digits_dataset`), in
    `<HF_DATASETS_CACHE>/genie_transforms/<fingerprint>.arrow`; any change (r, seed, strategy, model, data)
    computes anew, and `load_from_cache_file=False` (or disabled caching) always does. `num_proc > 1` runs one worker
    per process (spawned, the model loaded lazily in each; with CUDA, worker `rank` uses GPU `rank`); rows are
    identical for any `num_proc` and `batch_size`. With a `hard_negative_filter` every row records the filter's
    decision (`filter_kept`, `filter_score`); keep the kept ones with
    ``ds.filter(lambda kept: kept, input_columns="filter_kept")``.
    """
    check_dataset(ds, image_column, label_column)
    generator.resolve_revision()  # the fingerprint must name the model's revision
    prompt_map = prompt_map_for(ds.features, label_column, prompts, generator)
    label_feature = ds.features[label_column]
    if not isinstance(label_feature, ClassLabel):
        label_feature = ClassLabel(names=[prompt_map.names.get(i, str(i)) for i in range(max(prompt_map.labels) + 1)])
    if ds.features[image_column].decode:  # decode in the map function, so a corrupt image is named (or skipped)
        ds = ds.cast_column(image_column, ImageFeature(decode=False))
    fn = genie_map(
        generator,
        prompt_map,
        noise_ratio=noise_ratio,
        targets=targets,
        seed=seed,
        image_column=image_column,
        label_column=label_column,
        keep_original=keep_original,
        errors=errors,
        hard_negative_filter=hard_negative_filter,
    )
    features = output_features(label_feature, keep_original, filtered=hard_negative_filter is not None)
    if isinstance(ds, IterableDataset):
        return ds.map(
            fn,
            batched=True,
            batch_size=batch_size,
            with_indices=True,
            remove_columns=list(ds.features),
            features=features,
        )
    fingerprint = job_fingerprint(ds._fingerprint, fn.config, {"image_column": image_column, "label": label_column})
    multi = num_proc is not None and num_proc > 1
    cache_file_name, keep_in_memory = None, False
    beside = ds.cache_files and os.access(Path(ds.cache_files[0]["filename"]).parent, os.W_OK)
    if not beside and datasets.is_caching_enabled():  # in memory, or a read-only folder: the datasets cache folder
        folder = Path(datasets.config.HF_DATASETS_CACHE) / "genie_transforms"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            writable = os.access(folder, os.W_OK)
        except OSError:
            writable = False
        if writable:
            cache_file_name = str(folder / f"{fingerprint}.arrow")
        else:
            keep_in_memory = True
            logger.warning(
                "The datasets cache %s is not writable: the hard negatives stay in memory (not cached). Set "
                "HF_DATASETS_CACHE to a writable folder to cache them.",
                folder,
            )
    with _spawned_workers(multi):
        return ds.map(
            fn,
            batched=True,
            batch_size=batch_size,
            with_indices=True,
            with_rank=multi,
            remove_columns=ds.column_names,
            features=features,
            num_proc=num_proc,
            new_fingerprint=fingerprint,
            cache_file_name=cache_file_name,
            keep_in_memory=keep_in_memory,
            load_from_cache_file=load_from_cache_file,
            desc="GeNIe hard negatives",
        )


def _place_on_rank(generator: GenieGenerator, rank: int) -> None:
    """Worker `rank` of `map(num_proc=...)` uses GPU `rank` (modulo the GPU count); on CPU nothing changes."""
    import torch

    if torch.cuda.is_available():
        generator.to(f"cuda:{rank % torch.cuda.device_count()}")


@contextmanager
def _spawned_workers(enabled: bool) -> Iterator[None]:
    """Run `datasets`' worker pool with the spawn start method (then restore the previous one): a forked worker
    inherits torch's thread pools and CUDA state, and can hang or crash; a spawned one loads the model itself."""
    if not enabled:
        yield
        return
    import multiprocess

    previous = multiprocess.get_start_method(allow_none=True)
    multiprocess.set_start_method("spawn", force=True)
    try:
        yield
    finally:
        multiprocess.set_start_method(previous, force=True)


__all__ = [
    "FILTER_COLUMNS",
    "Pair",
    "check_noise_ratios",
    "generate_hard_negatives",
    "genie_ada_map",
    "genie_map",
    "job_fingerprint",
    "noise_table",
    "output_features",
    "prompt_map_for",
    "provenance",
]
