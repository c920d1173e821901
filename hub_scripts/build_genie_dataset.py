"""Build (and optionally push) a GeNIe dataset repository: hard negatives, GeNIe-Ada images and the noise table.

It runs `genie generate` and `genie ada` (both resumable: re-run the same command after a crash) into
WORK/genie and WORK/ada, then builds WORK/repo with the configs `genie`, `genie_ada` and `noise_table` and a
dataset card, and pushes it with `--push REPO_ID`.

Offline, on the shipped model and the digits (a few minutes on 2 CPU cores):

    python hub_scripts/build_genie_dataset.py --work runs/digits-genie --limit 60

mini-ImageNet with Stable Diffusion 1.5 at the paper's settings (one GPU; see the README for the cost):

    python hub_scripts/build_genie_dataset.py --work runs/miniimagenet-genie \\
        --dataset timm/mini-imagenet --dataset-revision bd8779f9d33c061ea6e75fdd3bce4e43dd679060 --split train \\
        --class-names miniimagenet_names.txt \\
        --model stable-diffusion-v1-5/stable-diffusion-v1-5 --revision <commit> \\
        --strategy random_k:1 --noise-ratio 0.8 \\
        --embedder torchvision:resnet50 --embedder-weights resnet50.safetensors \\
        --push my-org/miniimagenet-genie
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from datasets import load_dataset

from genie_transforms.cli import main as genie
from genie_transforms.hub import CardInfo, build_dataset_folder, push_folder


def digits_source(work: Path) -> str:
    """The digits' train split saved to disk, as the offline source dataset."""
    from genie_transforms.digits import load_digits_dataset

    path = work / "source-digits-train"
    if not (path / "state.json").is_file():
        load_digits_dataset("train").save_to_disk(str(path))
    return str(path)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="working folder (jobs, repo)")
    parser.add_argument("--dataset", default=None, help="Hub id or folder (default: the digits' train split)")
    parser.add_argument("--dataset-revision", default=None)
    parser.add_argument("--split", default="train")
    parser.add_argument("--class-names", default=None, help="file with one readable class name per line")
    parser.add_argument("--image-column", default="image")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--model", default="genie-tiny-digits")
    parser.add_argument("--revision", default=None)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--noise-ratio", type=float, default=0.8)
    parser.add_argument("--strategy", default="random_k:1")
    parser.add_argument("--embedder", default="genie-tiny-digits")
    parser.add_argument("--embedder-weights", default=None)
    parser.add_argument("--grid", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="first N source rows only")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--push", default=None, metavar="REPO_ID", help="upload the folder to this dataset repo")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    dataset = args.dataset or digits_source(args.work)
    common = ["--dataset", dataset, "--split", args.split, "--image-column", args.image_column,
              "--label-column", args.label_column, "--model", args.model, "--steps", str(args.steps),
              "--seed", str(args.seed), "--strategy", args.strategy, "--batch-size", str(args.batch_size)]  # fmt: skip
    if args.revision:
        common += ["--revision", args.revision]
    if args.dataset_revision:
        common += ["--dataset-revision", args.dataset_revision]
    if args.class_names:
        common += ["--class-names", args.class_names]
    if args.limit:
        common += ["--limit", str(args.limit)]
    generate = ["generate", *common, "--noise-ratio", str(args.noise_ratio), "--output", str(args.work / "genie")]
    ada = ["ada", *common, "--embedder", args.embedder, "--grid", *map(str, args.grid), "--output", str(args.work / "ada")]
    if args.embedder_weights:
        ada += ["--embedder-weights", args.embedder_weights]
    for command in (generate, ada):
        if genie(command) != 0:
            sys.exit(f"genie {command[0]} failed")

    genie_ds = load_dataset(str(args.work / "genie" / "dataset"), split=args.split)
    ada_ds = load_dataset(str(args.work / "ada" / "dataset"), split=args.split)
    table = load_dataset(str(args.work / "ada" / "noise_table"), split=args.split)
    first = genie_ds[0]
    info = CardInfo(
        model_id=first["model_id"], model_revision=first["model_revision"], seed=args.seed,
        noise_ratios=[args.noise_ratio], strategy=args.strategy, source_dataset=args.dataset or "sklearn-digits",
        command=" ".join(shlex.quote(a) for a in ["python", "hub_scripts/build_genie_dataset.py", *(argv or sys.argv[1:])]),
        license="mit" if args.model == "genie-tiny-digits" else "other", embedder=args.embedder,
        pretty_name=f"GeNIe hard negatives of {args.dataset or 'digits'}",
        extra={"GeNIe-Ada grid": args.grid, "denoising steps": args.steps},
    )  # fmt: skip
    folder = build_dataset_folder(args.work / "repo", {"genie": {args.split: genie_ds}, "genie_ada": {args.split: ada_ds},
                                                       "noise_table": {args.split: table}}, info)  # fmt: skip
    print(f"built {folder} ({len(genie_ds)} hard negatives, {len(ada_ds)} Ada images, {len(table)} noise-table rows)")
    if args.push:
        files = push_folder(folder, args.push, private=args.private)
        print(f"pushed {len(files)} files to https://huggingface.co/datasets/{args.push}")
    return folder


if __name__ == "__main__":
    main()
