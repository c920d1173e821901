"""`genie generate`: GeNIe hard negatives for a whole dataset, sharded and resumable.

    genie generate --dataset ./my-imagefolder --model stable-diffusion-v1-5/stable-diffusion-v1-5 \\
        --revision <commit> --noise-ratio 0.8 --strategy random_k:1 --output runs/genie

Finished parquet chunks are never redone: re-run the same command after a crash or Ctrl-C. Under torchrun,
`accelerate launch`, srun or a Slurm array (or with `--num-shards N --shard-index i` by hand) each process takes its
share of the chunks; with `--engine ray` a pool of actors on a Ray cluster takes them (`--ray-actors`,
`--ray-address`). OUTPUT may be a filesystem URI (s3://, gs://). When every chunk exists, they are merged into
OUTPUT/dataset/, which `datasets.load_dataset("OUTPUT/dataset")` reads.

The strategy defaults to all_others, the paper's pairing (every source becomes a hard negative of every other
class); `generate_hard_negatives` has the same default. GenieTransform defaults to random_k:1 instead, since a
transform replaces one image by one negative.
"""

from __future__ import annotations

import argparse

from .common import (
    UsageError,
    add_filter_arguments,
    add_job_arguments,
    add_model_arguments,
    add_parser,
    add_prototype_arguments,
    add_source_arguments,
    add_strategy_arguments,
    build_filter,
    build_generator,
    build_prototypes,
    build_strategy,
    check_engine,
    read_source,
    rows_per_call,
    run_job,
    shard_from_env,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_parser(sub, "generate", "hard negatives for a dataset (sharded, resumable)", __doc__)
    add_source_arguments(parser, streaming=True)
    add_model_arguments(parser)
    add_job_arguments(parser)
    group = parser.add_argument_group("GeNIe")
    group.add_argument(
        "--noise-ratio",
        type=float,
        nargs="+",
        default=[0.8],
        help="noise ratio r (0.8 as the paper); several give one row each",
    )
    add_strategy_arguments(group)
    group.add_argument(
        "--estimate",
        type=int,
        nargs="?",
        const=8,
        default=None,
        metavar="ROWS",
        help="time ROWS source rows (8 without a value), print the projected hours for this shard, and stop",
    )
    group = parser.add_argument_group("keep-hard-negatives filter (optional)")
    add_filter_arguments(group, own_embedder=True)
    add_prototype_arguments(group)
    parser.set_defaults(func=run)


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
    print(
        f"{per_row:.3f} s per source row ({per_source:.1f} hard negatives each, measured on {n} rows): about "
        f"{per_row * total / 3600:.2f} h for the {total} source rows (~{int(per_source * total)} hard negatives) "
        f"of shard {shard_index}/{num_shards}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from datasets import Image as ImageFeature

    from ..datasets import check_noise_ratios, genie_map, output_features
    from ..storage import redact
    from ..targets import targets_per_source

    check_engine(args)
    gen = build_generator(args)
    source = read_source(args, gen, streaming=args.streaming)
    ratios = check_noise_ratios(args.noise_ratio, gen.num_inference_steps)
    strategy = build_strategy(args, source)
    embedder = prototypes = None
    if args.filter_embedder is not None:
        from ..embedders import embedder_from_spec

        embedder = embedder_from_spec(args.filter_embedder, args.filter_embedder_weights, args.device)
        prototypes = build_prototypes(args, source, embedder)
    keep = build_filter(args, embedder is not None, embedder, prototypes)
    fn = genie_map(
        gen,
        source.prompts,
        noise_ratio=ratios,
        targets=strategy,
        seed=args.seed,
        image_column=args.image_column,
        label_column=args.label_column,
        errors=args.errors,
        hard_negative_filter=keep,
    )
    ds = source.ds.cast_column(args.image_column, ImageFeature(decode=False))  # decoded (or skipped) by row
    if args.estimate is not None:
        if source.identity["streaming"]:
            raise UsageError("--estimate times rows of a split held on disk; drop --streaming for the estimate.")
        return estimate(ds, fn, args.estimate, args.chunk_size, *shard_from_env(args.num_shards, args.shard_index))
    config = {
        "command": "generate",
        "dataset": args.dataset,
        "split": args.split,
        "source": source.identity,
        **fn.config,
    }
    per_source = targets_per_source(strategy, source.prompts.labels) * len(ratios)
    folder = run_job(
        args,
        ds,
        fn,
        output_features(source.full.features[args.label_column], filtered=keep is not None),
        config,
        num_rows=source.num_rows,
        rows_per_call=rows_per_call(gen.options.batch_size, per_source),
        what="hard negatives",
    )
    if folder is not None:
        shown = redact(folder)
        print(f"all chunks done; merged into {shown} (datasets.load_dataset('{shown}'))")
    return 0


__all__ = [
    "estimate",
    "register",
    "run",
]
