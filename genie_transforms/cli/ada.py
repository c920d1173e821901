"""`genie ada`: GeNIe-Ada over a dataset, sharded and resumable like `genie generate`.

    genie ada --dataset ./my-imagefolder --model stable-diffusion-v1-5/stable-diffusion-v1-5 --revision <commit> \\
        --embedder torchvision:resnet50 --embedder-weights resnet50.safetensors --output runs/ada

Each (source, target) pair gets its r chosen by the classifier's own embedder over the grid. The chosen images
land in OUTPUT/dataset/, the noise table (r*, curve, jumps, embedder, model, seeds per pair) in
OUTPUT/noise_table/ (both read by `datasets.load_dataset`), and a PNG of the curves in OUTPUT/curves.png. The
class prototypes come from the whole split (`--prototype-images` real images per class), whatever `--limit` is.
`--engine ray` runs the pairs on a Ray cluster's actors, and OUTPUT may be a filesystem URI (s3://, gs://), as for
`genie generate`.

The embedder is your classifier's backbone: `--embedder torchvision:ARCH --embedder-weights FILE.safetensors` with
the state dict of your trained model (`safetensors.torch.save_file(model.state_dict(), FILE)`; a fine-tuned head of
any size is fine, only the pooled features are used).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import ADA_MODES, CHEAP_ADA_STEPS
from .common import (
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
    positive_int,
    read_source,
    rows_per_call,
    run_job,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_parser(sub, "ada", "GeNIe-Ada: per-pair noise ratio, images and noise table (resumable)", __doc__)
    add_source_arguments(parser)
    add_model_arguments(parser)
    add_job_arguments(parser)
    group = parser.add_argument_group("GeNIe-Ada")
    add_strategy_arguments(group)
    group.add_argument(
        "--grid", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9], help="noise ratios to choose from"
    )
    group.add_argument(
        "--mode",
        choices=ADA_MODES,
        default="exact",
        help="exact (the reference rule) or cheap (every grid point from its exact start, a few steps each, then one "
        "full generation at r*)",
    )
    group.add_argument(
        "--cheap-steps",
        type=positive_int,
        default=CHEAP_ADA_STEPS,
        help="short steps per grid point of the cheap sweep",
    )
    group.add_argument(
        "--embedder",
        required=True,
        help="the classifier's backbone: torchvision:ARCH (with --embedder-weights), or "
        "genie-tiny-digits (the bundled digits backbone, for the digits only)",
    )
    group.add_argument("--embedder-weights", type=Path, default=None, help="safetensors state dict of the classifier")
    add_prototype_arguments(group)
    add_filter_arguments(group, own_embedder=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from datasets import Image as ImageFeature

    from ..ada import GenieAda, check_grid
    from ..datasets import genie_ada_map, noise_table, output_features
    from ..embedders import embedder_from_spec
    from ..plots import ada_curves
    from ..storage import Folder, redact
    from ..targets import targets_per_source

    check_engine(args)
    gen = build_generator(args)
    check_grid(args.grid, gen.num_inference_steps)
    source = read_source(args, gen)
    strategy = build_strategy(args, source)
    embedder = embedder_from_spec(args.embedder, args.embedder_weights, args.device)
    ada = GenieAda(gen, embedder, grid=args.grid, mode=args.mode, cheap_steps=args.cheap_steps)
    prototypes = build_prototypes(args, source, embedder)
    keep = build_filter(args, args.filter, embedder, prototypes)
    fn = genie_ada_map(
        ada,
        source.prompts,
        prototypes,
        targets=strategy,
        seed=args.seed,
        image_column=args.image_column,
        label_column=args.label_column,
        errors=args.errors,
        hard_negative_filter=keep,
    )
    ds = source.ds.cast_column(args.image_column, ImageFeature(decode=False))
    config = {
        "command": "ada",
        "dataset": args.dataset,
        "split": args.split,
        "source": source.identity,
        "prototype_images": args.prototype_images,
        **fn.config,
    }
    per_source = targets_per_source(strategy, source.prompts.labels) * len(ada.grid)
    folder = run_job(
        args,
        ds,
        fn,
        output_features(ds.features[args.label_column], ada=True, filtered=keep is not None),
        config,
        num_rows=len(ds),
        rows_per_call=rows_per_call(gen.options.batch_size, per_source),
        what="Ada images",
    )
    if folder is None:
        return 0
    job = Folder(args.output)
    merged = job.read_dataset("dataset/data", exclude=("image",))
    table = noise_table(merged)
    table = table.add_column("source_split", [args.split] * len(table))
    job.write_parquet(table, f"noise_table/data/{args.split}-00000-of-00001.parquet")
    table_dir = job.uri("noise_table")
    rows = table.select(range(min(8, len(table)))).to_list()
    for row in rows:
        row["source_name"], row["target_name"] = source.names[row["source_label"]], source.names[row["target"]]
    try:
        curves = ada_curves(rows, str(job.local / "curves.png")) if job.local else "(drawn for local folders only)"
    except ImportError as err:  # the plot needs the `evaluation` extra; the images and the table do not
        curves = f"(not drawn: {err})"
    r_star = table["r_star"]
    histogram = {r: sum(x == r for x in r_star) for r in ada.grid}
    print(f"r* over {len(table)} pairs: " + ", ".join(f"{r}: {n}" for r, n in histogram.items()))
    print(f"merged into {redact(folder)}; noise table in {redact(table_dir)}; curves in {curves}")
    return 0


__all__ = [
    "register",
    "run",
]
