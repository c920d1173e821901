"""`genie ada`: GeNIe-Ada over a dataset, sharded and resumable like `genie generate`.

    genie ada --dataset ./my-imagefolder --model stable-diffusion-v1-5/stable-diffusion-v1-5 \\
        --embedder torchvision:resnet50 --embedder-weights resnet50.safetensors --output runs/ada

Each (source, target) pair gets its r chosen by the classifier's own embedder over the grid. The chosen images
land in OUTPUT/dataset/, the noise table (r*, curve, jumps, embedder, model, seeds per pair) in
OUTPUT/noise_table/ (both read by `datasets.load_dataset`), and a PNG of the curves in OUTPUT/curves.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .generate import add_source_arguments, build_strategy, prepare, shard_from_env


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ada", help="GeNIe-Ada: per-pair noise ratio, images and noise table (resumable)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_source_arguments(parser)
    parser.add_argument("--strategy", default="all_others", help="all_others | random_k:K | confusion_top_k:K | to_tail:K")
    parser.add_argument("--confusion", type=Path, default=None, help=".npy confusion matrix for confusion_top_k/to_tail")
    parser.add_argument("--grid", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9], help="noise ratios")
    parser.add_argument("--mode", choices=("exact", "cheap"), default="exact", help="exact (default) or cheap Ada")
    parser.add_argument("--cheap-steps", type=int, default=10, help="coarse schedule of the cheap sweep (default: 10)")
    parser.add_argument("--embedder", default="genie-tiny-digits",
                        help="genie-tiny-digits (bundled) or torchvision:ARCH (with --embedder-weights)")  # fmt: skip
    parser.add_argument("--embedder-weights", type=Path, default=None, help="safetensors state dict of the backbone")
    parser.add_argument("--prototype-images", type=int, default=64, help="real images per class for prototypes")
    parser.set_defaults(func=run)


def build_embedder(spec: str, weights: Path | None, device: str | None):
    """An embedder from the command line; weights are read from safetensors only."""
    from ..embedders import digits_embedder, torchvision_embedder

    if spec == "genie-tiny-digits":
        return digits_embedder(device)
    kind, _, arch = spec.partition(":")
    if kind != "torchvision" or not arch:
        raise ValueError(f"Unknown embedder {spec!r}; use genie-tiny-digits or torchvision:ARCH (e.g. torchvision:resnet50).")
    if weights is None:
        raise ValueError(f"--embedder {spec} needs --embedder-weights FILE.safetensors (nothing is downloaded).")
    import torchvision
    from safetensors.torch import load_file

    model = torchvision.models.get_model(arch, weights=None)
    model.load_state_dict(load_file(weights))
    transforms = torchvision.models.get_model_weights(arch).DEFAULT.transforms()
    return torchvision_embedder(model, transforms, name=f"{arch}:{weights.name}", device=device)


def prototype_rows(labels: list[int], per_class: int) -> list[int]:
    """The first `per_class` rows of each class: the real images whose embeddings make the prototypes."""
    if per_class < 1:
        raise ValueError(f"--prototype-images must be >= 1, got {per_class}.")
    seen: dict[int, int] = {}
    rows = []
    for i, label in enumerate(labels):
        if seen.get(label, 0) < per_class:
            seen[label] = seen.get(label, 0) + 1
            rows.append(i)
    return rows


def run(args: argparse.Namespace) -> int:
    from datasets import Image as ImageFeature
    from datasets import load_dataset

    from ..ada import GenieAda, class_prototypes
    from ..datasets import genie_ada_map, noise_table, output_features
    from ..jobs import merge_chunks, missing_chunks, run_chunks
    from ..plots import ada_curves

    ds, gen, prompts = prepare(args)
    strategy = build_strategy(args.strategy, args.confusion, ds, args.label_column)
    embedder = build_embedder(args.embedder, args.embedder_weights, args.device)
    ada = GenieAda(gen, embedder, grid=args.grid, mode=args.mode, cheap_steps=args.cheap_steps)
    labels = list(ds[args.label_column])
    rows = prototype_rows(labels, args.prototype_images)
    real = ds.select(rows)
    prototypes = class_prototypes(embedder, real[args.image_column], real[args.label_column])
    fn = genie_ada_map(ada, prompts, prototypes, targets=strategy, seed=args.seed, image_column=args.image_column,
                       label_column=args.label_column, errors=args.errors)  # fmt: skip
    ds = ds.cast_column(args.image_column, ImageFeature(decode=False))
    num_shards, shard_index = shard_from_env(args.num_shards, args.shard_index)
    config = {"command": "ada", "dataset": args.dataset, "config": args.config, "split": args.split,
              "limit": args.limit, "prototype_images": args.prototype_images, **fn.config}  # fmt: skip
    stats = run_chunks(
        ds, fn, output_features(ds.features[args.label_column], ada=True), args.output, config=config,
        chunk_size=args.chunk_size, num_shards=num_shards, shard_index=shard_index, progress=not args.no_progress,
    )  # fmt: skip
    print(f"shard {shard_index}/{num_shards}: {stats['chunks_done']} chunks written ({stats['rows_out']} Ada images), "
          f"{stats['chunks_skipped']} already done")  # fmt: skip
    if missing_chunks(args.output):
        print("chunks of other shards are still to do; the last shard to finish merges them")
        return 0
    folder = merge_chunks(args.output, split=args.split)
    merged = load_dataset(str(folder), split=args.split)
    table = noise_table(merged)
    table_dir = args.output / "noise_table" / "data"
    table_dir.mkdir(parents=True, exist_ok=True)
    table.to_parquet(str(table_dir / f"{args.split}-00000-of-00001.parquet"))
    curves = ada_curves(table.select(range(min(8, len(table)))).to_list(), str(args.output / "curves.png"))
    r_star = table["r_star"]
    histogram = {r: sum(abs(x - r) < 1e-6 for x in r_star) for r in ada.grid}
    print(f"r* over {len(table)} pairs: " + ", ".join(f"{r}: {n}" for r, n in histogram.items()))
    print(f"merged into {folder}; noise table in {table_dir.parent}; curves in {curves}")
    return 0
