"""`genie push FOLDER REPO_ID`: upload a dataset folder built by `genie publish` to the Hub.

The token comes from HF_TOKEN or your `hf auth login`; it is never printed. `--dry-run` lists the files only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_parser


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_parser(sub, "push", "upload a GeNIe dataset folder to the Hugging Face Hub", __doc__)
    parser.add_argument("folder", type=Path, help="a folder built by `genie publish`")
    parser.add_argument("repo_id", help="namespace/name of the dataset repository")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded; upload nothing")
    parser.add_argument("--large", action="store_true", help="resumable upload_large_folder for big folders")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..hub import check_repo_id, push_folder
    from .common import UsageError

    try:
        check_repo_id(args.repo_id)
    except ValueError as err:
        raise UsageError(str(err)) from None

    files = push_folder(args.folder, args.repo_id, private=args.private, dry_run=args.dry_run, large=args.large)
    total = sum(size for _, size in files)
    for path, size in files:
        print(f"{size:>12,}  {path}")
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"{verb} {len(files)} files ({total / 2**20:.1f} MiB) to https://huggingface.co/datasets/{args.repo_id}")
    return 0


__all__ = [
    "register",
    "run",
]
