"""Build (and optionally push) a GeNIe dataset repository: hard negatives, GeNIe-Ada images and the noise table.

It runs `genie generate` and `genie ada` (both resumable: re-run the same command after a crash) into
WORK/genie and WORK/ada, then `genie publish` builds WORK/repo with the configs `genie`, `genie_ada` and
`noise_table` and a dataset card, and pushes it with `--push REPO_ID`. A pip user does the same with the three
`genie` commands.

Offline, on the shipped model and the digits (the defaults when no --dataset is given):

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
import os
import sys
from pathlib import Path

from genie_transforms.cli import main as genie


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
    parser.add_argument(
        "--dataset",
        default=None,
        help="Hub id or folder (default: the digits' train split, with the bundled model and backbone)",
    )
    parser.add_argument("--dataset-revision", default=None, help="Hub revision of the dataset")
    parser.add_argument("--split", default="train", help="split to read")
    parser.add_argument("--class-names", default=None, help="file with one readable class name per line")
    parser.add_argument("--image-column", default="image", help="an Image column")
    parser.add_argument("--label-column", default="label", help="a ClassLabel column")
    parser.add_argument("--model", default=None, help="diffusion model (required with --dataset)")
    parser.add_argument("--revision", default=None, help="Hub revision of the model")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps")
    parser.add_argument("--noise-ratio", type=float, default=0.8, help="r of the genie config")
    parser.add_argument("--strategy", default="random_k:1", help="target strategy of both jobs")
    parser.add_argument("--embedder", default=None, help="GeNIe-Ada embedder (required with --dataset)")
    parser.add_argument("--embedder-weights", default=None, help="safetensors weights of torchvision:ARCH")
    parser.add_argument("--grid", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9], help="GeNIe-Ada grid")
    parser.add_argument("--seed", type=int, default=0, help="global seed")
    parser.add_argument("--limit", type=int, default=None, help="first N source rows only")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per pipeline call")
    parser.add_argument("--push", default=None, metavar="REPO_ID", help="upload the folder to this dataset repo")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # our progress bars only, as the genie commands
    if args.dataset is not None and (args.model is None or args.embedder is None):
        parser.error("--dataset needs --model and --embedder (the bundled digits model is for the digits only)")

    args.work.mkdir(parents=True, exist_ok=True)
    dataset = args.dataset or digits_source(args.work)
    common = [
        "--dataset",
        dataset,
        "--split",
        args.split,
        "--image-column",
        args.image_column,
        "--label-column",
        args.label_column,
        "--model",
        args.model or "genie-tiny-digits",
        "--steps",
        str(args.steps),
        "--seed",
        str(args.seed),
        "--strategy",
        args.strategy,
        "--batch-size",
        str(args.batch_size),
    ]
    for flag, value in (
        ("--revision", args.revision),
        ("--dataset-revision", args.dataset_revision),
        ("--class-names", args.class_names),
        ("--limit", args.limit),
    ):
        if value is not None:
            common += [flag, str(value)]
    if args.no_progress:
        common.append("--no-progress")
    generate = ["generate", *common, "--noise-ratio", str(args.noise_ratio), "--output", str(args.work / "genie")]
    ada = [
        "ada",
        *common,
        "--embedder",
        args.embedder or "genie-tiny-digits",
        "--grid",
        *map(str, args.grid),
        "--output",
        str(args.work / "ada"),
    ]
    if args.embedder_weights:
        ada += ["--embedder-weights", args.embedder_weights]
    publish = [
        "publish",
        "--genie",
        str(args.work / "genie"),
        "--ada",
        str(args.work / "ada"),
        "--output",
        str(args.work / "repo"),
    ]
    if args.push:
        publish += ["--push", args.push] + (["--private"] if args.private else [])
    for command in (generate, ada, publish):
        status = genie(command)
        if status != 0:
            sys.exit(status)
    return args.work / "repo"


if __name__ == "__main__":
    main()
