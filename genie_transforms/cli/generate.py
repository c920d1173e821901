"""`genie generate`: hard negatives for a whole dataset, sharded and resumable.

    genie generate --dataset ./my-imagefolder --model stable-diffusion-v1-5/stable-diffusion-v1-5 \\
        --noise-ratio 0.8 --strategy random_k:1 --output runs/genie

Finished parquet chunks are never redone: re-run the same command after a crash or Ctrl-C. With
`accelerate launch --num_processes N genie generate ...` (or `--num-shards N --shard-index i` by hand) each process
takes its share of the chunks. When every chunk exists, they are merged into `OUTPUT/dataset/`, which
`datasets.load_dataset("OUTPUT/dataset")` reads.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Dataset and model options shared by `genie generate` and `genie ada`."""
    group = parser.add_argument_group("source dataset")
    group.add_argument("--dataset", required=True, help="Hub id, save_to_disk folder, or data folder (imagefolder)")
    group.add_argument("--config", default=None, help="dataset configuration name")
    group.add_argument("--dataset-revision", default=None, help="Hub revision of the dataset")
    group.add_argument("--split", default="train", help="split to read (default: %(default)s)")
    group.add_argument("--image-column", default="image")
    group.add_argument("--label-column", default="label", help="a ClassLabel column (its names make the prompts)")
    group.add_argument("--template", default=None, help="prompt template with one {} (default: 'a photo of a {}.')")
    group.add_argument("--class-names", type=Path, default=None,
                       help="text file with one readable class name per line, in label order (for bare ids)")
    group.add_argument("--limit", type=int, default=None, help="use only the first N rows (to try a run)")
    group = parser.add_argument_group("model")
    group.add_argument("--model", default="genie-tiny-digits", help="Hub id, local folder, or genie-tiny-digits")
    group.add_argument("--revision", default=None, help="Hub revision (commit) of the model; pin it")
    group.add_argument("--steps", type=int, default=50, help="denoising steps of the full schedule (default: 50)")
    group.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance (default: 7.5)")
    group.add_argument("--scheduler", default="dpmsolver++")
    group.add_argument("--batch-size", type=int, default=8, help="rows per pipeline call (default: %(default)s)")
    group.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: the process's GPU, or cpu)")
    group = parser.add_argument_group("job")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--output", type=Path, required=True, help="job folder (chunks, job.json, dataset/)")
    group.add_argument("--chunk-size", type=int, default=64, help="source rows per parquet chunk (default: 64)")
    group.add_argument("--num-shards", type=int, default=None, help="number of processes (default: WORLD_SIZE or 1)")
    group.add_argument("--shard-index", type=int, default=None, help="this process's shard (default: RANK or 0)")
    group.add_argument("--errors", choices=("raise", "skip"), default="raise", help="on an undecodable image")
    group.add_argument("--no-progress", action="store_true")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("generate", help="hard negatives for a dataset (sharded, resumable)", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_source_arguments(parser)
    parser.add_argument("--noise-ratio", type=float, nargs="+", default=[0.8], help="r (several: one row each)")
    parser.add_argument("--strategy", default="all_others", help="all_others | random_k:K | confusion_top_k:K | to_tail:K")
    parser.add_argument("--confusion", type=Path, default=None, help=".npy confusion matrix for confusion_top_k/to_tail")
    parser.add_argument("--estimate", type=int, nargs="?", const=8, default=None, metavar="ROWS",
                        help="time ROWS source rows (default 8), print the projected hours for this shard, and stop")
    parser.set_defaults(func=run)


def shard_from_env(num_shards: int | None, shard_index: int | None) -> tuple[int, int]:
    """Shard count and index: given, or from `accelerate launch` / torchrun (`WORLD_SIZE`, `RANK`), or (1, 0)."""
    n = num_shards if num_shards is not None else int(os.environ.get("WORLD_SIZE", 1))
    i = shard_index if shard_index is not None else int(os.environ.get("RANK", 0))
    return n, i


def process_device(device: str | None) -> str | None:
    """The device of this process: given, else its local GPU under a launcher (`LOCAL_RANK`), else the default."""
    import torch

    if device is None and "LOCAL_RANK" in os.environ and torch.cuda.is_available():
        return f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return device


def build_strategy(spec: str, confusion: Path | None, ds, label_column: str):
    """A target strategy from the command line; confusion- and count-based ones read their inputs here."""
    from ..targets import ConfusionTopK, ToTail, get_strategy

    name, _, arg = spec.partition(":")
    k = int(arg) if arg else 1
    if name == "confusion_top_k":
        if confusion is None:
            raise ValueError("--strategy confusion_top_k needs --confusion matrix.npy (true x predicted counts).")
        import numpy as np

        return ConfusionTopK(np.load(confusion), k=k)
    if name == "to_tail":
        import numpy as np

        counts = np.bincount(np.asarray(ds[label_column]), minlength=ds.features[label_column].num_classes)
        matrix = np.load(confusion) if confusion is not None else None
        return ToTail(np.maximum(counts, 1).tolist(), k=k, confusion=matrix)
    return get_strategy(spec)


def prepare(args: argparse.Namespace):
    """Load the source split and build the generator and prompt map from the shared options."""
    from ..datasets import check_dataset, prompt_map_for
    from ..generator import GenieGenerator
    from ..jobs import load_source
    from ..prompts import PromptMap

    ds = load_source(args.dataset, args.split, args.config, args.dataset_revision)
    check_dataset(ds, args.image_column, args.label_column)
    if args.limit is not None:
        ds = ds.select(range(min(args.limit, len(ds))))
    if args.class_names is not None:
        names = [line.strip() for line in args.class_names.read_text().splitlines() if line.strip()]
        prompts = prompt_map_for(ds.features, args.label_column, PromptMap(names))
    else:
        prompts = prompt_map_for(ds.features, args.label_column)
    if args.template:
        prompts = PromptMap(prompts.names, template=args.template, overrides=prompts.overrides, clean=False)
    gen = GenieGenerator.from_pretrained(
        args.model, revision=args.revision, device=process_device(args.device), num_inference_steps=args.steps,
        guidance_scale=args.guidance, scheduler=args.scheduler, batch_size=args.batch_size, progress=False,
    )  # fmt: skip
    gen.resolve_revision()  # recorded in job.json before any work
    return ds, gen, prompts


def estimate(ds, fn, rows: int, chunk_size: int, num_shards: int, shard_index: int) -> int:
    """Time a few source rows (after one warm-up row that loads the model) and project this shard's hours."""
    import time

    from ..jobs import shard_chunks

    if rows < 1:
        raise ValueError(f"--estimate needs at least 1 row, got {rows}.")
    n = min(rows, len(ds))
    fn(ds[:1], [0])
    start = time.perf_counter()
    out = fn(ds[:n], list(range(n)))
    per_row = (time.perf_counter() - start) / n
    total = sum(stop - begin for _, begin, stop in shard_chunks(len(ds), chunk_size, num_shards, shard_index))
    per_source = len(out["label"]) / n
    print(f"{per_row:.3f} s per source row ({per_source:.1f} hard negatives each, measured on {n} rows): about "
          f"{per_row * total / 3600:.2f} h for the {total} source rows (~{int(per_source * total)} hard negatives) "
          f"of shard {shard_index}/{num_shards}")  # fmt: skip
    return 0


def run(args: argparse.Namespace) -> int:
    from datasets import Image as ImageFeature

    from ..datasets import genie_map, output_features
    from ..jobs import merge_chunks, missing_chunks, run_chunks

    ds, gen, prompts = prepare(args)
    strategy = build_strategy(args.strategy, args.confusion, ds, args.label_column)
    fn = genie_map(
        gen, prompts, noise_ratio=args.noise_ratio, targets=strategy, seed=args.seed, image_column=args.image_column,
        label_column=args.label_column, errors=args.errors,
    )  # fmt: skip
    ds = ds.cast_column(args.image_column, ImageFeature(decode=False))
    num_shards, shard_index = shard_from_env(args.num_shards, args.shard_index)
    if args.estimate is not None:
        return estimate(ds, fn, args.estimate, args.chunk_size, num_shards, shard_index)
    config = {
        "command": "generate",
        "dataset": args.dataset,
        "config": args.config,
        "split": args.split,
        "limit": args.limit,
        **fn.config,
    }
    stats = run_chunks(
        ds, fn, output_features(ds.features[args.label_column]), args.output, config=config,
        chunk_size=args.chunk_size, num_shards=num_shards, shard_index=shard_index, progress=not args.no_progress,
    )  # fmt: skip
    print(
        f"shard {shard_index}/{num_shards}: {stats['chunks_done']} chunks written ({stats['rows_out']} hard negatives "
        f"from {stats['rows_in']} sources), {stats['chunks_skipped']} already done"
    )
    missing = missing_chunks(args.output)
    if missing:
        print(f"{len(missing)} chunks of other shards are still to do; the last shard to finish merges them")
        return 0
    folder = merge_chunks(args.output, split=args.split)
    print(f"all chunks done; merged into {folder} (datasets.load_dataset('{folder}'))")
    return 0
