"""`genie publish`: a dataset repository folder (and optionally its upload) from finished job folders.

    genie publish --genie runs/genie --ada runs/ada --output runs/repo [--push my-org/digits-genie]

It reads the jobs' `job.json` and merged datasets and writes OUTPUT with the configs `genie` (from `genie
generate`), `genie_ada` and `noise_table` (from `genie ada`), self-contained parquet shards, and a dataset card
that names the model and revision, prompt template, r, strategy, seed, source dataset and how to regenerate the
Ada images. `datasets.load_dataset(OUTPUT, "genie")` reads it exactly as the Hub will.

No local path reaches the card: a model or source dataset that the jobs read from a local folder is left unnamed
(the model's content hash is still stated) unless `--model-name` / `--source-dataset` say how the public should
know it; Hub ids in the jobs are named as they are.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .._version import __version__
from ..settings import IMAGE_SETTINGS
from .common import UsageError, add_parser

CARD_SETTINGS = tuple(k for k in IMAGE_SETTINGS if k != "model_family")  # a job records the family in its model
"""The generator settings of a job that its card lists (they change the images)."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_parser(sub, "publish", "build a Hub dataset folder from genie generate / genie ada jobs", __doc__)
    parser.add_argument("--genie", type=Path, default=None, help="a finished `genie generate` job folder")
    parser.add_argument("--ada", type=Path, default=None, help="a finished `genie ada` job folder")
    parser.add_argument("--output", type=Path, required=True, help="the repository folder to write")
    parser.add_argument(
        "--source-dataset",
        default=None,
        metavar="NAME",
        help="the source dataset as the public should see it (a Hub id); a Hub id in the jobs is used as it is, a "
        "local folder is left unnamed unless given here",
    )
    parser.add_argument(
        "--model-name",
        default=None,
        metavar="NAME",
        help="the model as the public should see it (a Hub id); a Hub model in the jobs is used as it is, a local "
        "folder is left unnamed (its content hash is still stated) unless given here",
    )
    parser.add_argument("--pretty-name", default=None, help="title of the dataset card")
    parser.add_argument(
        "--license",
        default=None,
        help="license of the generated data (default: cc-by-4.0 for the bundled digits model, else other)",
    )
    parser.add_argument("--push", default=None, metavar="REPO_ID", help="then upload the folder to this dataset repo")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--large", action="store_true", help="resumable upload_large_folder for big folders")
    parser.set_defaults(func=run)


def read_job(folder: Path, command: str) -> dict[str, Any]:
    """A finished job's settings (its `job.json`), checked to be of the expected command."""
    path = folder / "job.json"
    if not path.is_file():
        raise UsageError(f"{folder} is not a job folder (no job.json); give the --output folder of `genie {command}`.")
    job = json.loads(path.read_text())
    if job.get("command") != command:
        raise UsageError(f"{folder} holds a `genie {job.get('command')}` job, not `genie {command}`.")
    if not (folder / "dataset").is_dir():
        raise UsageError(f"{folder} is not finished (no dataset/ yet); run the remaining shards of the job first.")
    if command == "ada" and not (folder / "noise_table").is_dir():
        raise UsageError(
            f"{folder} has no noise table: the run stopped before writing it. Run the same `genie ada` command again "
            "to finish it (nothing is generated twice)."
        )
    made_by = job.get("library_version")
    if made_by is not None and made_by.split(".")[:2] != __version__.split(".")[:2]:
        print(f"{folder} was made by genie-transforms {made_by} (this is {__version__}); the card names both")
    return job


def public_names(args: argparse.Namespace, job: dict[str, Any]) -> tuple[str | None, str | None]:
    """(model, source dataset) as the card names them: the options, else the jobs' Hub ids, else None (local)."""
    from ..jobs import spells_a_path

    settings = job["generator"]
    local_model = str(settings.get("model_revision") or "").startswith("sha256:") and settings["model_id"] != (
        "genie-tiny-digits"
    )
    model = args.model_name or (None if local_model else settings["model_id"])
    local = spells_a_path(job["dataset"]) or Path(job["dataset"]).expanduser().exists()
    source = args.source_dataset or (None if local else job["dataset"])
    return model, source


def job_lines(args: argparse.Namespace, jobs: list[dict[str, Any]]) -> dict[str, str]:
    """One card line per job: its source (as the card may name it) and split, seed, settings and the library
    version that made it, so that a card built from several jobs says how each config was made."""
    lines = {}
    for job in jobs:
        source = public_names(args, job)[1] or "a local dataset"
        values = {k: job["generator"].get(k) for k in CARD_SETTINGS}
        settings = ", ".join(
            f"{k.replace('_', ' ')} {'the model default' if v is None else v}" for k, v in values.items()
        )
        lines[f"`genie {job['command']}` job"] = (
            f"{source}, split {job['split']}, seed {job['seed']}, {settings}, made by genie-transforms "
            f"{job.get('library_version', 'unknown')}"
        )
    return lines


def strategy_spec(config: dict[str, Any]) -> str:
    return config["name"] + (f":{config['k']}" if "k" in config else "")


def run(args: argparse.Namespace) -> int:
    from datasets import load_dataset

    from ..hub import CardInfo, build_dataset_folder, check_repo_id, push_folder
    from ..jobs import identity_view

    if args.genie is None and args.ada is None:
        raise UsageError("give --genie and/or --ada job folders to publish.")
    if args.push:
        check_repo_id(args.push)
    configs, jobs = {}, []
    if args.genie is not None:
        job = read_job(args.genie, "generate")
        jobs.append(job)
        configs["genie"] = {job["split"]: load_dataset(str(args.genie / "dataset"), split=job["split"])}
    if args.ada is not None:
        job = read_job(args.ada, "ada")
        jobs.append(job)
        configs["genie_ada"] = {job["split"]: load_dataset(str(args.ada / "dataset"), split=job["split"])}
        configs["noise_table"] = {job["split"]: load_dataset(str(args.ada / "noise_table"), split=job["split"])}
    first = jobs[0]
    settings = first["generator"]
    for job in jobs[1:]:  # one model: by its content hash for a local folder (however its path is spelled)
        mine, theirs = identity_view(settings), identity_view(job["generator"])
        for key in ("model_id", "model_revision", "prompt_template"):
            if mine.get(key) != theirs.get(key):
                raise UsageError(
                    f"The jobs differ in {key} ({mine.get(key)!r} and {theirs.get(key)!r}); "
                    "publish jobs of one model together."
                )
    ratios = sorted({r for job in jobs for r in job.get("noise_ratio", [])})
    ada = next((job["ada"] for job in jobs if "ada" in job), None)
    bundled = settings["model_id"] == "genie-tiny-digits"
    model, source = public_names(args, first)
    for what, name, flag in (("model", model, "--model-name"), ("source dataset", source, "--source-dataset")):
        if name is None:
            print(f"the {what} is a local folder: the card does not name it (name it with {flag} NAME)")
    info = CardInfo(
        model_id=model,
        model_revision=settings["model_revision"],
        seed=first["seed"],
        noise_ratios=ratios or ([] if ada is None else ada["grid"]),
        strategy=strategy_spec(first["targets"]),
        source_dataset=source,
        source_revision=first["source"].get("revision"),
        source_split=first["split"],
        settings={k: settings.get(k) for k in CARD_SETTINGS},
        skipped_rows=sorted({r for job in jobs for r in job.get("skipped_rows", [])}),
        prompt_template=first.get("prompt_template"),
        license=args.license or ("cc-by-4.0" if bundled else "other"),
        pretty_name=args.pretty_name or f"GeNIe hard negatives of {(source or 'a local dataset').split('/')[-1]}",
        embedder=None if ada is None else ada["embedder"],
        extra={
            **job_lines(args, jobs),
            **({} if ada is None else {"GeNIe-Ada grid": ada["grid"], "GeNIe-Ada mode": ada["mode"]}),
        },
    )
    folder = build_dataset_folder(args.output, configs, info)
    counts = ", ".join(f"{name}: {sum(len(d) for d in splits.values())} rows" for name, splits in configs.items())
    print(f"built {folder} ({counts}); datasets.load_dataset('{folder}', '<config>') reads it")
    if args.push:
        files = push_folder(folder, args.push, private=args.private, large=args.large)
        print(f"pushed {len(files)} files to https://huggingface.co/datasets/{args.push}")
    return 0


__all__ = [
    "job_lines",
    "public_names",
    "read_job",
    "register",
    "run",
    "strategy_spec",
]
