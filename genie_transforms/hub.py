"""Publishing generated splits and GeNIe-Ada noise tables as Hugging Face Hub dataset repositories.

A repository folder is built locally (parquet shards under `data/<config>/` and a dataset card whose YAML
`configs` point at them), loads offline with `datasets.load_dataset(<folder>, <config>)` exactly as it will from
the Hub, and is uploaded with `huggingface_hub`. Tokens come from the environment or your login; they are never
printed or stored.

Examples:
    >>> folder = build_dataset_folder("out/digits-genie", {"genie": {"train": negatives}}, card)  # doctest: +SKIP
    >>> push_folder(folder, "my-org/digits-genie", dry_run=True)                              # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, load_dataset
from huggingface_hub import DatasetCard, DatasetCardData, HfApi

from . import __version__

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
CAVEATS = """\
- **Label noise at low r.** Below r = 0.7 a hard negative often still shows its source class; its label is the
  target class all the same (the paper's choice). GeNIe-Ada picks r per image to limit this.
- **The diffusion model's biases.** Images inherit what the model learned: its styles, its gaps and its social
  biases. Check them before training on them, and do not use them as real photographs.
- **Synthetic data.** Every row is generated; its provenance columns say from which source, prompt, r, seed and
  model revision."""


def check_repo_id(repo_id: str) -> str:
    """A Hub repository id must be `namespace/name`."""
    if not isinstance(repo_id, str) or not REPO_ID.match(repo_id):
        raise ValueError(f"Repository id {repo_id!r} is not of the form 'namespace/name' (e.g. 'my-org/digits-genie').")
    return repo_id


@dataclass
class CardInfo:
    """What the dataset card states about how the data was made."""

    model_id: str
    model_revision: str | None
    seed: int
    noise_ratios: list[float]
    strategy: str
    source_dataset: str
    command: str = ""
    license: str = "other"
    pretty_name: str | None = None
    embedder: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _write_config(folder: Path, config: str, splits: Mapping[str, Dataset], max_rows: int) -> dict[str, int]:
    rows = {}
    for split, ds in splits.items():
        if not isinstance(ds, Dataset):
            raise TypeError(f"Config {config!r}, split {split!r}: expected a datasets.Dataset, got {type(ds).__name__}.")
        if len(ds) == 0:
            raise ValueError(f"Config {config!r}, split {split!r} is empty; there is nothing to publish.")
        target = folder / "data" / config
        target.mkdir(parents=True, exist_ok=True)
        n = max(1, -(-len(ds) // max_rows))
        for i in range(n):
            ds.shard(n, i, contiguous=True).to_parquet(str(target / f"{split}-{i:05d}-of-{n:05d}.parquet"))
        rows[split] = len(ds)
    return rows


def build_dataset_folder(
    folder: str | Path,
    configs: Mapping[str, Mapping[str, Dataset]],
    info: CardInfo,
    default_config: str | None = None,
    max_rows_per_file: int = 5_000,
) -> Path:
    """Write a dataset repository folder: `data/<config>/<split>-*.parquet` for each config and split, and a
    `README.md` dataset card (YAML `configs`, `dataset_info` features, license, source datasets, tags, and prose
    with the model id and revision, r, strategy, seed, library version, command, row counts and caveats)."""
    folder = Path(folder)
    if not configs:
        raise ValueError("No configs to publish; give e.g. {'genie': {'train': dataset}}.")
    default_config = default_config or next(iter(configs))
    if default_config not in configs:
        raise ValueError(f"Default config {default_config!r} is not among {list(configs)}.")
    counts = {name: _write_config(folder, name, splits, max_rows_per_file) for name, splits in configs.items()}
    yaml_configs, infos = [], []
    for name, splits in configs.items():
        entry = {"config_name": name, "data_files": [{"split": s, "path": f"data/{name}/{s}-*.parquet"}
                                                     for s in splits]}  # fmt: skip
        if name == default_config:
            entry["default"] = True
        yaml_configs.append(entry)
        features = next(iter(splits.values())).features
        infos.append({"config_name": name, "features": features._to_yaml_list(),
                      "splits": [{"name": s, "num_examples": len(d)} for s, d in splits.items()]})  # fmt: skip
    data = DatasetCardData(
        license=info.license,
        pretty_name=info.pretty_name,
        source_datasets=[info.source_dataset],
        task_categories=["image-classification"],
        tags=["genie", "hard-negatives", "synthetic", "diffusion", "data-augmentation"],
        configs=yaml_configs,
        dataset_info=infos,
    )
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{_prose(info, counts)}")
    (folder / "README.md").write_text(str(card))
    return folder


def _prose(info: CardInfo, counts: Mapping[str, Mapping[str, int]]) -> str:
    rows = "\n".join(f"| {c} | {s} | {n} |" for c, splits in counts.items() for s, n in splits.items())
    lines = [
        f"# {info.pretty_name or 'GeNIe hard negatives'}",
        "",
        "Hard negatives generated with [GeNIe](https://arxiv.org/abs/2312.02548) by genie-transforms: each image "
        "keeps the look of a source image but carries the meaning of a contrasting target class, and is labelled "
        "with the **target** class.",
        "",
        "## How it was made",
        "",
        f"- Model: `{info.model_id}` at revision `{info.model_revision or 'unpinned'}`",
        f"- Noise ratios: {', '.join(str(r) for r in info.noise_ratios)}",
        f"- Target strategy: `{info.strategy}`",
        f"- Seed: {info.seed} (each row's noise seed is derived from the seed, its source index and target)",
        f"- Source dataset: `{info.source_dataset}`",
        f"- genie-transforms version: {__version__}",
    ]
    if info.embedder:
        lines.append(f"- GeNIe-Ada embedder: `{info.embedder}`")
    lines += [f"- {k}: {v}" for k, v in info.extra.items()]
    if info.command:
        lines += ["", "Command:", "", "```bash", info.command, "```"]
    lines += ["", "## Rows", "", "| config | split | rows |", "| --- | --- | --- |", rows, "", "## Use", "",
              "```python", "from datasets import load_dataset", "", 'ds = load_dataset("<repo id>", "<config>")',
              "```", "", "## Caveats", "", CAVEATS, ""]  # fmt: skip
    return "\n".join(lines)


def load_config(folder_or_repo: str | Path, config: str, split: str = "train") -> Dataset:
    """One config of a published (or locally built) GeNIe dataset; a missing config is a clear error."""
    from datasets import get_dataset_config_names

    names = get_dataset_config_names(str(folder_or_repo))
    if config not in names:
        raise ValueError(f"{folder_or_repo} has no config {config!r}; its configs are {names}.")
    return load_dataset(str(folder_or_repo), config, split=split)


def load_noise_table(folder_or_repo: str | Path, split: str = "train", config: str = "noise_table") -> Dataset:
    """The GeNIe-Ada noise table of a published dataset, to regenerate its Ada images locally with
    `genie_transforms.ada.generate_from_table` (no sweep, no embedder)."""
    return load_config(folder_or_repo, config, split)


def folder_files(folder: str | Path) -> list[tuple[str, int]]:
    """(path in repo, size in bytes) of every file that an upload of `folder` would send."""
    folder = Path(folder)
    if not (folder / "README.md").is_file():
        raise FileNotFoundError(f"{folder} has no README.md dataset card; build it with build_dataset_folder first.")
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*")
                  if p.is_file() and ".cache" not in p.parts)  # fmt: skip


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    dry_run: bool = False,
    large: bool = False,
    commit_message: str | None = None,
) -> list[tuple[str, int]]:
    """Create the dataset repository (if needed) and upload the folder; returns the files sent.

    The token is `token`, else `HF_TOKEN` or your `hf auth login`; it is never printed. `dry_run` only lists the
    files. `large=True` uses `upload_large_folder` (resumable, for big folders).
    """
    check_repo_id(repo_id)
    files = folder_files(folder)
    if dry_run:
        return files
    api = HfApi(token=token or os.environ.get("HF_TOKEN") or None)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if large:
        api.upload_large_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset")
    else:
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset",
                          commit_message=commit_message or f"Upload GeNIe dataset (genie-transforms {__version__})")  # fmt: skip
    return files


def regenerate_ada_images(generator: Any, source: Dataset, table: Dataset, prompts: Any = None,
                          image_column: str = "image", label_column: str = "label") -> Any:  # fmt: skip
    """Regenerate a published dataset's GeNIe-Ada images locally from its noise table and the source split: each
    row at its `r_star`, with its seed and source index (no sweep, no embedder). Returns a `GenieOutput`."""
    from .ada import generate_from_table
    from .datasets import prompt_map_for

    prompts = prompt_map_for(source.features, label_column, prompts, generator)
    if "source_index" not in table.column_names:
        raise ValueError("The noise table has no `source_index` column; it was not made by genie-transforms.")
    if table and max(table["source_index"]) >= len(source):
        raise ValueError(f"The noise table refers to source rows up to {max(table['source_index'])}, but the source "
                         f"split has {len(source)} rows; pass the same split (and --limit) the table was made from.")  # fmt: skip
    images = [source[int(i)][image_column] for i in table["source_index"]]
    return generate_from_table(generator, images, table, prompts)
