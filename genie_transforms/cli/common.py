"""What the `genie` commands share: option groups, building the generator and reading the source dataset.

Only argparse and the standard library are imported at module level, so that `genie --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import DTYPES, NOISE_RULES, OFFLOAD, PRESET_CHOICES, SCHEDULER_CHOICES, TIMESTEP_SPACINGS

PACKAGES = (
    "genie-transforms",
    "torch",
    "diffusers",
    "transformers",
    "datasets",
    "huggingface-hub",
    "safetensors",
    "accelerate",
    "peft",
    "albumentations",
    "albumentationsx",
    "torchvision",
    "scikit-learn",
    "numpy",
    "pillow",
)
BUNDLED_MODEL = "genie-tiny-digits"


class UsageError(ValueError):
    """A bad combination of command-line options (exit status 2, like argparse's own errors)."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the command's description as written and shows each option's default once: not on required options,
    not where it is None or a switch's False, and not where the help text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            action.required
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
            or "default" in text
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, doc: str | None) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=doc, formatter_class=HelpFormatter)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {value}")
    return value


def add_model_arguments(
    parser: argparse.ArgumentParser, *, default_model: str | None = None, steps: int | None = None, batch_size: int = 8
) -> None:
    """Model and generation options (the same in `genie generate`, `genie ada` and `genie demo`)."""
    group = parser.add_argument_group("model")
    if default_model is None:
        group.add_argument(
            "--model",
            required=True,
            help=f"Hub id or local folder of the diffusion model ({BUNDLED_MODEL}: the small digits "
            "model the package ships, for the digits only)",
        )
    else:
        group.add_argument("--model", default=default_model, help="Hub id or local folder of the diffusion model")
    group.add_argument("--revision", default=None, help="Hub revision (commit) of the model; pin it")
    group.add_argument(
        "--preset",
        choices=PRESET_CHOICES,
        default=None,
        help="settings preset: paper (the paper's settings, docs/guides/method.md), fast (20 steps), turbo "
        "(SD-Turbo, SDXL-Turbo), lcm, flux-schnell; explicit options win",
    )
    group.add_argument(
        "--steps",
        type=positive_int,
        default=steps,
        help="denoising steps of the full schedule (the preset's, else 50 as the paper)"
        if steps is None
        else f"denoising steps of the full schedule (default here: {steps}; the paper uses 50)",
    )
    group.add_argument("--guidance", type=float, default=None, help="classifier-free guidance (the preset's, else 7.5)")
    group.add_argument(
        "--scheduler",
        choices=SCHEDULER_CHOICES,
        default=None,
        help="scheduler (the preset's, else the family's: dpmsolver++ for Stable Diffusion and SDXL, the model's own "
        "flow-matching one for SD3 and Flux); 'pipeline' keeps the model's own",
    )
    group.add_argument(
        "--timestep-spacing",
        choices=TIMESTEP_SPACINGS,
        default=None,
        help="timestep spacing (the scheduler's own by default; trailing for Turbo models)",
    )
    group.add_argument(
        "--noise-rule",
        choices=NOISE_RULES,
        default=None,
        help="how r picks the start: steps (the paper's: floor(r x steps) of the model's schedule) or sd15-snr "
        "(where the model's schedule has the signal-to-noise ratio SD 1.5 has at r: the same r across families)",
    )
    group.add_argument(
        "--dtype",
        choices=DTYPES,
        default=None,
        help="weights dtype (float16 on CUDA, float32 on CPU)",
    )
    group.add_argument("--variant", default=None, help="weights variant to download and load, e.g. fp16")
    group.add_argument(
        "--offload",
        choices=OFFLOAD,
        default=None,
        help="CPU offload for GPUs with little memory (needs accelerate and CUDA)",
    )
    group.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="SOURCE[:SCALE]",
        help="LoRA weights (.safetensors file, folder or Hub id); repeat for several",
    )
    group.add_argument(
        "--textual-inversion",
        action="append",
        default=[],
        metavar="SOURCE[:<TOKEN>]",
        help="learned token embedding (.safetensors); prompts can then name the token",
    )
    group.add_argument("--batch-size", type=positive_int, default=batch_size, help="rows per pipeline call")
    group.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: this process's GPU, or cpu)")


def build_generator(args: argparse.Namespace, **overrides: Any):
    """A `GenieGenerator` from the model options (loaded lazily; its revision resolved now, for job settings)."""
    from ..generator import GenieGenerator

    settings = {
        "num_inference_steps": args.steps,
        "guidance_scale": args.guidance,
        "scheduler": args.scheduler,
        "timestep_spacing": args.timestep_spacing,
        "noise_rule": args.noise_rule,
        **overrides,
    }
    gen = GenieGenerator.from_pretrained(
        args.model,
        revision=args.revision,
        device=process_device(args.device),
        dtype=args.dtype,
        variant=args.variant,
        offload=args.offload,
        lora=args.lora,
        textual_inversion=args.textual_inversion,
        preset=args.preset,
        batch_size=args.batch_size,
        progress=False,
        **{k: v for k, v in settings.items() if v is not None},
    )
    gen.resolve_revision()
    return gen


def split_argument(value: str) -> str:
    """`--split`: a split name as `datasets` names splits. A slice (`train[:8]`) is refused before any work: the job's
    rows, chunks, noise table and card all name the split, and `--limit` takes the first rows."""
    import re

    if not re.fullmatch(r"\w+(\.\w+)*", value):
        raise argparse.ArgumentTypeError(
            f"--split takes a split name such as train or test, got {value!r}; for the first N rows use --limit N."
        )
    return value


def template_argument(value: str) -> str:
    """`--template`, checked when the command line is read."""
    from ..prompts import check_template

    try:
        return check_template(value, "--template")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_source_arguments(parser: argparse.ArgumentParser, *, required: bool = True, streaming: bool = False) -> None:
    """Source-dataset options."""
    group = parser.add_argument_group("source dataset")
    group.add_argument(
        "--dataset",
        required=required,
        default=None,
        help="Hub id, save_to_disk folder, or data folder (imagefolder, parquet)",
    )
    group.add_argument("--config", default=None, help="dataset configuration name")
    group.add_argument("--dataset-revision", default=None, help="Hub revision (commit) of the dataset; pin it")
    group.add_argument(
        "--split", type=split_argument, default="train", help="split to read (a name; --limit N for fewer rows)"
    )
    group.add_argument("--image-column", default="image", help="an Image column")
    group.add_argument("--label-column", default="label", help="a ClassLabel column (its names make the prompts)")
    group.add_argument(
        "--class-names",
        type=Path,
        default=None,
        help="text file with one readable class name per line, in label order (for bare ids)",
    )
    group.add_argument(
        "--template",
        type=template_argument,
        default=None,
        help="prompt template with one {} (default: the model's declared one, else 'a photo of a {}.')",
    )
    group.add_argument(
        "--synonyms",
        choices=("all", "first"),
        default="all",
        help="for WordNet synonym lists ('tabby, tabby cat'): keep all (the reference code) or the first",
    )
    group.add_argument("--limit", type=positive_int, default=None, help="use only the first N rows (to try a run)")
    if streaming:
        group.add_argument(
            "--streaming",
            action="store_true",
            help="read the source as a stream (a Hub dataset too large to download first); needs "
            "--limit unless the dataset says how many rows it has",
        )


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of a resumable, sharded job."""
    group = parser.add_argument_group("job")
    group.add_argument(
        "--seed", type=int, default=0, help="global seed (each row's noise comes from it, its source index and target)"
    )
    group.add_argument(
        "--output",
        type=output_location,
        required=True,
        help="job folder (chunks, job.json, dataset/): a path, or a pyarrow filesystem URI (s3://, gs://, file://)",
    )
    group.add_argument("--chunk-size", type=positive_int, default=64, help="source rows per parquet chunk")
    group.add_argument(
        "--num-shards", type=positive_int, default=None, help="number of processes (default: WORLD_SIZE or 1)"
    )
    group.add_argument("--shard-index", type=int, default=None, help="this process's shard (default: RANK or 0)")
    group.add_argument(
        "--errors", choices=("raise", "skip"), default="raise", help="on an image that cannot be decoded"
    )
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process (sharded by launcher variables); ray: a pool of actors on a Ray cluster",
    )
    group.add_argument(
        "--ray-address", default=None, help="Ray cluster to join (auto, ray://head:10001); default: start a local one"
    )
    group.add_argument("--ray-actors", type=positive_int, default=1, help="actors (one generator each)")
    group.add_argument(
        "--ray-gpus-per-actor",
        type=float,
        default=None,
        help="GPUs per actor (default: 1 when the cluster has GPUs, else 0)",
    )
    group.add_argument("--ray-cpus-per-actor", type=float, default=1.0, help="CPUs per actor")


def output_location(text: str) -> Path | str:
    """A job's --output: a local path, or a filesystem URI kept as written (a Path would fold its `//`)."""
    from ..storage import is_uri

    return text if is_uri(text) else Path(text)


def check_engine(args: argparse.Namespace) -> None:
    """Refuse options that do not go with the chosen engine, before any work."""
    if args.engine == "ray":
        if args.num_shards not in (None, 1) or args.shard_index not in (None, 0):
            raise UsageError("--engine ray schedules every chunk itself: drop --num-shards and --shard-index.")
        if getattr(args, "streaming", False):
            raise UsageError("--engine ray reads a split held on disk: drop --streaming (or use --engine local).")
        if getattr(args, "estimate", None) is not None:
            raise UsageError("--estimate times this machine: run it without --engine ray.")
        return
    ray_only = ("ray_address", "ray_gpus_per_actor")
    if (
        any(getattr(args, name) is not None for name in ray_only)
        or args.ray_actors != 1
        or args.ray_cpus_per_actor != 1
    ):
        raise UsageError(
            "--ray-address, --ray-actors, --ray-gpus-per-actor and --ray-cpus-per-actor apply to --engine ray."
        )


def run_job(
    args: argparse.Namespace,
    ds: Any,
    fn: Any,
    features: Any,
    config: dict[str, Any],
    *,
    num_rows: int,
    rows_per_call: int,
    what: str,
) -> Any:
    """Run a generation or Ada job on the chosen engine and merge it when every chunk is done; returns the merged
    folder (None while chunks remain)."""
    from ..jobs import run_chunks

    common = {
        "config": config,
        "chunk_size": args.chunk_size,
        "rows_per_call": rows_per_call,
        "progress": not args.no_progress,
    }
    if args.engine == "ray":
        from ..ray import RayOptions, run_chunks_ray

        options = RayOptions(
            address=args.ray_address,
            num_actors=args.ray_actors,
            gpus_per_actor=args.ray_gpus_per_actor,
            cpus_per_actor=args.ray_cpus_per_actor,
        )
        stats = run_chunks_ray(ds, fn, features, args.output, options=options, **common)
        for k, start, stop, error in stats["errors"]:
            print(f"chunk {k} (source rows {start}-{stop - 1}) failed: {error}", file=sys.stderr)
        if stats["errors"]:
            finish_job(args, stats, 1, 0, what, merge=False, who="ray")
            raise RuntimeError(
                f"{len(stats['errors'])} chunks failed (listed above with their source rows); the others are kept. "
                "Fix the cause and run the same command again: it generates only the unfinished chunks."
            )
        return finish_job(args, stats, 1, 0, what, who="ray")
    num_shards, shard_index = shard_from_env(args.num_shards, args.shard_index)
    stats = run_chunks(
        ds, fn, features, args.output, num_shards=num_shards, shard_index=shard_index, num_rows=num_rows, **common
    )
    return finish_job(args, stats, num_shards, shard_index, what)


def add_strategy_arguments(parser: Any) -> None:
    parser.add_argument(
        "--strategy",
        default="all_others",
        help="targets of each source: all_others (every other class, the paper's few-shot pairing), "
        "random_k:K, confusion_top_k:K (with --confusion) or to_tail:K",
    )
    parser.add_argument(
        "--confusion",
        type=Path,
        default=None,
        help=".npy confusion matrix (true x predicted) for confusion_top_k / to_tail",
    )


def add_filter_arguments(parser: Any, *, own_embedder: bool) -> None:
    """The hard-negative filter's options; with `own_embedder`, it names its embedder (else it uses --embedder)."""
    if own_embedder:
        parser.add_argument(
            "--filter-embedder",
            default=None,
            help="keep-hard-negatives filter with this backbone (torchvision:ARCH or genie-tiny-digits): "
            "each row records filter_kept and filter_score (off by default)",
        )
        parser.add_argument(
            "--filter-embedder-weights", type=Path, default=None, help="safetensors state dict of --filter-embedder"
        )
    else:
        parser.add_argument(
            "--filter",
            action="store_true",
            help="also record the keep-hard-negatives filter's decision (filter_kept, filter_score) "
            "with --embedder and its prototypes",
        )
    parser.add_argument(
        "--filter-margin",
        type=float,
        default=None,
        help="the filter keeps an image nearer its target's prototype than every third class's by "
        "more than this (default 0)",
    )


def build_filter(args: argparse.Namespace, enabled: bool, embedder: Any, prototypes: Any) -> Any:
    """The hard-negative filter of the options, or None when it is off (a margin without a filter is refused)."""
    from ..filtering import HardNegativeFilter

    if not enabled:
        if args.filter_margin is not None:
            raise UsageError("--filter-margin sets the hard-negative filter's margin; turn the filter on too.")
        return None
    return HardNegativeFilter(embedder, prototypes, 0.0 if args.filter_margin is None else args.filter_margin)


def add_prototype_arguments(parser: Any) -> None:
    parser.add_argument(
        "--prototype-images",
        type=positive_int,
        default=64,
        help="real images per class (from the whole split) whose mean embedding is its prototype",
    )


def prototype_rows(labels: list[int], per_class: int) -> list[int]:
    """The first `per_class` rows of each class: the real images whose embeddings make the prototypes."""
    seen: dict[int, int] = {}
    rows = []
    for i, label in enumerate(labels):
        if seen.get(label, 0) < per_class:
            seen[label] = seen.get(label, 0) + 1
            rows.append(i)
    return rows


def build_prototypes(args: argparse.Namespace, source: SourceData, embedder: Any) -> dict[int, Any]:
    """Each class's prototype from the first --prototype-images real images of the whole split."""
    from ..ada import class_prototypes

    if source.identity["streaming"]:
        raise UsageError("Class prototypes are built from the whole split; drop --streaming to use an embedder.")
    real = source.full.select(prototype_rows(list(source.full[args.label_column]), args.prototype_images))
    return class_prototypes(embedder, real[args.image_column], real[args.label_column])


@dataclass
class SourceData:
    """The source split as the job reads it (after --limit), the whole split, and its prompts."""

    ds: Any
    full: Any
    prompts: Any
    names: list[str]
    num_rows: int
    identity: dict[str, Any]


def read_source(args: argparse.Namespace, gen: Any, streaming: bool = False) -> SourceData:
    """Load and check the source split (everything that can be checked before the first generation), make its
    prompt map with the model's declared template (or --template, with a warning when it differs from the
    model's), and name the source (fingerprint, revision, rows) for the job's settings."""
    from ..datasets import check_dataset, prompt_map_for
    from ..jobs import load_source, stream_identity
    from ..prompts import PromptMap

    full = load_source(args.dataset, args.split, args.config, args.dataset_revision, streaming=streaming)
    check_dataset(full, args.image_column, args.label_column)
    if streaming:
        known = getattr(full.info.splits.get(args.split), "num_examples", None) if full.info.splits else None
        num_rows = min(args.limit, known) if args.limit and known else args.limit or known
        if not num_rows:
            raise UsageError("--streaming needs --limit N: the stream does not say how many rows it has.")
        ds = full
    else:
        ds = full.select(range(min(args.limit, len(full)))) if args.limit is not None else full
        num_rows = len(ds)
    names = None
    feature = full.features[args.label_column]
    if args.class_names is not None:
        names = [line.strip() for line in args.class_names.read_text().splitlines() if line.strip()]
        expected = getattr(feature, "num_classes", None)
        if expected is not None and len(names) != expected:
            raise UsageError(
                f"--class-names {args.class_names} has {len(names)} names, but {args.label_column!r} has "
                f"{expected} classes; give one name per class, in label order."
            )
    elif hasattr(feature, "names"):
        names = list(feature.names)
    template = args.template or gen.prompt_template
    prompts = None
    if names is not None:
        prompts = PromptMap(names, synonyms=args.synonyms, **({"template": template} if template else {}))
    prompts = prompt_map_for(full.features, args.label_column, prompts, gen)
    check_bundled(args, [prompts.names[i] for i in prompts.labels])
    identity = {
        "dataset": args.dataset,
        "revision": args.dataset_revision,
        "config": args.config,
        "split": args.split,
        "fingerprint": stream_identity(args.dataset, args.dataset_revision)
        if streaming
        else getattr(full, "_fingerprint", None),
        "num_rows": num_rows,
        "streaming": streaming,
    }
    return SourceData(ds, full, prompts, [prompts.names[i] for i in prompts.labels], num_rows, identity)


def build_strategy(args: argparse.Namespace, source: SourceData) -> Any:
    """The target strategy of the options; count- and confusion-based ones read their inputs here."""
    import numpy as np

    from ..targets import get_strategy

    confusion = np.load(args.confusion) if args.confusion is not None else None
    counts = None
    if args.strategy.startswith("to_tail"):
        if source.identity["streaming"]:
            raise UsageError(
                "--strategy to_tail counts the images of each class: it needs the whole split, not a stream."
            )
        labels = np.asarray(source.full[args.label_column])
        counts = np.maximum(np.bincount(labels, minlength=len(source.names)), 1).tolist()
    return get_strategy(args.strategy, confusion=confusion, class_counts=counts)


def finish_job(
    args: argparse.Namespace,
    stats: dict[str, Any],
    num_shards: int,
    shard_index: int,
    what: str,
    merge: bool = True,
    who: str | None = None,
):
    """Print the shard's summary (with skipped rows) and merge the job when every chunk is done (and `merge`);
    returns the merged folder, or None when other shards (or another process's merge) are still running."""
    from ..jobs import merge_chunks, missing_chunks

    skipped = stats["skipped_rows"]
    note = f"; {len(skipped)} source rows skipped (undecodable images: {skipped[:10]})" if skipped else ""
    busy = f"; chunks {stats['chunks_busy']} are being generated by another process" if stats["chunks_busy"] else ""
    print(
        f"{who or f'shard {shard_index}/{num_shards}'}: {stats['chunks_done']} chunks written ({stats['rows_out']} {what} from "
        f"{stats['rows_in']} sources), {stats['chunks_skipped']} already done{note}{busy}"
    )
    if not merge:
        return None
    missing = missing_chunks(args.output)
    if missing:
        print(f"{len(missing)} chunks are still to do (other shards or processes); the last to finish merges them")
        return None
    folder = merge_chunks(args.output, split=args.split)
    if folder is None:
        print("another process is merging the chunks")
    return folder


def check_bundled(args: argparse.Namespace, names: list[str]) -> None:
    """The bundled models (and their backbones) draw the digits and nothing else: refuse them on other data."""
    from ..digits import DIGIT_NAMES
    from ..loading import BUNDLED_MODELS  # the shipped models; each has a backbone of the same name

    used = [flag for flag in ("model", "embedder") if getattr(args, flag, None) in BUNDLED_MODELS]
    if used and names != list(DIGIT_NAMES):
        flags = " and ".join(f"--{flag}" for flag in used)
        fixes = {
            "model": "--model with a Stable Diffusion id or folder",
            "embedder": "--embedder torchvision:ARCH --embedder-weights FILE (your classifier's backbone)",
        }
        raise UsageError(
            f"{flags} {getattr(args, used[0])} is a small digits model the package ships: it draws the digits zero to nine "
            f"and nothing else, but this dataset's classes are {names[:6]}{' ...' if len(names) > 6 else ''}. Pass "
            f"{' and '.join(fixes[flag] for flag in used)}."
        )


def shard_from_env(num_shards: int | None, shard_index: int | None) -> tuple[int, int]:
    """Shard count and index: given, or from the launchers (both levels when one runs inside the other), or (1, 0).

    The process level: `WORLD_SIZE`/`RANK` of torchrun and accelerate, else `SLURM_NTASKS`/`SLURM_PROCID` of `srun`.
    The array level: a Slurm array's `SLURM_ARRAY_TASK_COUNT` tasks, task `(SLURM_ARRAY_TASK_ID -
    SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP` (an array may start at any id, `--array=1-4`). Inside an array,
    the shards are the array's tasks times each task's processes."""
    env = os.environ

    def number(name: str, default: int) -> int:
        value = env.get(name)
        try:
            return default if value is None or value == "" else int(value)
        except ValueError:
            raise UsageError(f"The launcher variable {name}={value!r} is not an integer.") from None

    if "WORLD_SIZE" in env:
        procs, proc = number("WORLD_SIZE", 1), number("RANK", 0)
    else:
        procs, proc = number("SLURM_NTASKS", 1), number("SLURM_PROCID", 0)
    tasks, task = 1, 0
    if "SLURM_ARRAY_TASK_ID" in env:
        tasks = number("SLURM_ARRAY_TASK_COUNT", 1)
        offset = number("SLURM_ARRAY_TASK_ID", 0) - number("SLURM_ARRAY_TASK_MIN", 0)
        step = max(1, number("SLURM_ARRAY_TASK_STEP", 1))
        task = offset // step
        if offset % step or not 0 <= task < tasks:
            raise UsageError(
                f"This Slurm array task (SLURM_ARRAY_TASK_ID={env['SLURM_ARRAY_TASK_ID']}) is not one of "
                f"{tasks} evenly spaced tasks from SLURM_ARRAY_TASK_MIN={env.get('SLURM_ARRAY_TASK_MIN', 0)}: use "
                "an array range such as --array=0-N (or 1-N, or with a :step), or pass --num-shards and --shard-index."
            )
    n = num_shards or tasks * procs
    i = shard_index if shard_index is not None else task * procs + proc
    if not 0 <= i < n:
        raise UsageError(f"--shard-index must be in [0, {n}) for {n} shards, got {i}.")
    return n, i


def process_device(device: str | None) -> str | None:
    """The device of this process: given, else its local GPU under a launcher (`LOCAL_RANK`), else the default."""
    if device is None and "LOCAL_RANK" in os.environ:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return device


def rows_per_call(batch_size: int, per_source: int) -> int:
    """Source rows per generation call: enough to fill a batch, so the progress bar moves every batch."""
    return max(1, math.ceil(batch_size / max(1, per_source)))


def report() -> dict[str, str]:
    """Versions of Python, the platform, the packages that matter and the GPU (for bug reports and benchmarks)."""
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = "not installed"
    info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"
    return info


__all__ = [
    "BUNDLED_MODEL",
    "PACKAGES",
    "HelpFormatter",
    "SourceData",
    "UsageError",
    "add_filter_arguments",
    "add_job_arguments",
    "add_model_arguments",
    "add_parser",
    "add_prototype_arguments",
    "add_source_arguments",
    "add_strategy_arguments",
    "build_filter",
    "build_generator",
    "build_prototypes",
    "build_strategy",
    "check_bundled",
    "finish_job",
    "positive_int",
    "process_device",
    "prototype_rows",
    "read_source",
    "report",
    "rows_per_call",
    "shard_from_env",
]
