"""Publishing generated splits and GeNIe-Ada noise tables as Hugging Face Hub dataset repositories.

A repository folder is built locally (self-contained parquet shards under `data/<config>/` and a dataset card
whose YAML `configs` point at them), loads offline with `datasets.load_dataset(<folder>, <config>)` exactly as it
will from the Hub, and is uploaded with `huggingface_hub`. Tokens come from the environment or your login; they are
never printed or stored.

Examples:
    >>> folder = build_dataset_folder("out/digits-genie", {"genie": {"train": negatives}}, card)  # doctest: +SKIP
    >>> push_folder(folder, "my-org/digits-genie", dry_run=True)                              # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, load_dataset

from ._version import __version__
from .parquet import write_parquet

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
SPLIT = re.compile(r"^\w+(\.\w+)*$")  # datasets' own rule for split names
CITATION = """\
@inproceedings{koohpayegani2025genie,
  title     = {GeNIe: Generative Hard Negative Images Through Diffusion},
  author    = {Koohpayegani, Soroush Abbasi and Singh, Anuj and Navaneet, K L and Pirsiavash, Hamed and
               Jamali-Rad, Hadi},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2025},
  note      = {arXiv:2312.02548}
}"""
CAVEATS = """\
- **Label noise at low r.** Below r = 0.7 a hard negative often still shows its source class; its label is the
  target class all the same (the paper's choice). GeNIe-Ada picks r per image to limit this.
- **The diffusion model's biases.** Images inherit what the model learned: its styles, its gaps and its social
  biases. Check them before training on them, and do not use them as real photographs.
- **Synthetic data.** Every row is generated; its provenance columns say from which source, prompt, r, seed and
  model revision."""
DIGITS_CREDIT = (
    "The bundled model `genie-tiny-digits` was trained by genie-transforms on scikit-learn's copy of the UCI ML "
    "hand-written digits dataset (E. Alpaydin and C. Kaynak, Optical Recognition of Handwritten Digits, UCI Machine "
    "Learning Repository, 1998; CC BY 4.0)."
)


def check_repo_id(repo_id: str) -> str:
    """A dataset repository id: `namespace/name`, valid by huggingface_hub's own rules."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ValueError(f"Repository id {repo_id!r} is not of the form 'namespace/name' (e.g. 'my-org/digits-genie').")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(f"Repository id {repo_id!r} is not valid: {err}") from None
    return repo_id


def check_name(name: object, what: str) -> str:
    """A config or split name that is safe as a folder and file name and valid on the Hub."""
    pattern = SPLIT if what == "split" else NAME
    if not isinstance(name, str) or not pattern.match(name) or ".." in name:
        raise ValueError(
            f"{what.capitalize()} name {name!r} is not allowed: use letters, digits, '_' (and '-' or '.' inside a "
            f"config name), for example 'genie_ada' or 'train'."
        )
    return name


@dataclass
class CardInfo:
    """What the dataset card states about how the data was made. `model_id` and `source_dataset` are the names the
    public should see (a Hub id); None leaves a local model or dataset unnamed (the card then says so, and shows
    placeholders in its snippets), so that no local path reaches a card unless it is given here. `settings` are the
    generation settings that change the images (steps, guidance, scheduler, spacing, resolution, dtype, family,
    noise rule); the card lists them."""

    model_id: str | None
    model_revision: str | None
    seed: int
    noise_ratios: list[float]
    strategy: str
    source_dataset: str | None
    source_revision: str | None = None
    source_split: str = "train"
    settings: dict[str, Any] = field(default_factory=dict)
    prompt_template: str | None = None
    command: str = ""
    license: str = "other"
    pretty_name: str | None = None
    embedder: str | None = None
    skipped_rows: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _code(text: object) -> str:
    """Inline code that no backtick in `text` can break."""
    text = str(text)
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks} {text} {ticks}" if "`" in text else f"`{text}`"


def _fence(text: str, language: str = "bash") -> list[str]:
    """A fenced code block that no code fence inside `text` can close."""
    ticks = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return [f"{ticks}{language}", text, ticks]


def _plain(text: object) -> str:
    """User text on one line of markdown prose: no line breaks, no HTML, markdown punctuation escaped."""
    return re.sub(r"([\\`*_{}\[\]<>#|!])", r"\\\1", " ".join(str(text).split()))


def build_dataset_folder(
    folder: str | Path,
    configs: Mapping[str, Mapping[str, Dataset]],
    info: CardInfo,
    default_config: str | None = None,
    max_rows_per_file: int = 5_000,
) -> Path:
    """Write a dataset repository folder: `data/<config>/<split>-*.parquet` for each config and split (images
    embedded, so the folder stands alone once the source images are gone), and a `README.md` dataset card (YAML
    `configs`, complete `dataset_info`, license, source datasets, tags, and prose with the model id and revision,
    template, r, strategy, seed, library version, command, row counts, credits, citation, how to regenerate the
    GeNIe-Ada images, and caveats).

    The folder is built beside it and swapped in whole, so a publish that is killed leaves the previous folder (or
    none), never a card that disagrees with its files, and a re-publish leaves no config or shard of the last one."""
    from huggingface_hub import DatasetCard, DatasetCardData

    folder = Path(folder)
    if folder.exists():
        others = sorted(p.name for p in folder.iterdir() if p.name not in PUBLISHED)
        if others:
            raise ValueError(
                f"{folder} holds files a publish did not write ({others[:5]}); publish into a new folder (or the "
                "folder of an earlier publish, which is replaced)."
            )
    if not configs:
        raise ValueError("No configs to publish; give e.g. {'genie': {'train': dataset}}.")
    for name, splits in configs.items():
        check_name(name, "config")
        if not splits:
            raise ValueError(f"Config {name!r} has no splits; give e.g. {{'train': dataset}}.")
        for split, ds in splits.items():
            check_name(split, "split")
            if not isinstance(ds, Dataset):
                raise TypeError(
                    f"Config {name!r}, split {split!r}: expected a datasets.Dataset, got {type(ds).__name__}."
                )
            if len(ds) == 0:
                raise ValueError(f"Config {name!r}, split {split!r} is empty; there is nothing to publish.")
    default_config = default_config or next(iter(configs))
    if default_config not in configs:
        raise ValueError(f"Default config {default_config!r} is not among {list(configs)}.")
    final, folder = folder, _staging(folder)
    yaml_configs: list[dict[str, Any]] = []
    infos: list[Any] = []
    counts: dict[str, Any] = {}
    for name, splits in configs.items():
        split_infos, download = [], 0
        for split, ds in splits.items():
            n = max(1, -(-len(ds) // max_rows_per_file))
            target = folder / "data" / name
            written = [
                write_parquet(ds.shard(n, i, contiguous=True), target / f"{split}-{i:05d}-of-{n:05d}.parquet")
                for i in range(n)
            ]
            size = sum(w.bytes for w in written)
            download += size
            split_infos.append({"name": split, "num_bytes": size, "num_examples": len(ds)})
            counts.setdefault(name, {})[split] = len(ds)
        entry: dict[str, Any] = {
            "config_name": name,
            "data_files": [{"split": s, "path": f"data/{name}/{s}-*.parquet"} for s in splits],
        }
        if name == default_config:
            entry["default"] = True
        yaml_configs.append(entry)
        features = next(iter(splits.values())).features
        infos.append(
            {
                "config_name": name,
                "features": features._to_yaml_list(),
                "splits": split_infos,
                "download_size": download,
                "dataset_size": download,
            }
        )
    data = DatasetCardData(
        license=info.license,
        pretty_name=info.pretty_name,
        source_datasets=[info.source_dataset] if info.source_dataset else None,
        task_categories=["image-classification"],
        tags=["genie", "hard-negatives", "synthetic", "diffusion", "data-augmentation"],
        configs=yaml_configs,
        dataset_info=infos,
    )
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{_prose(info, counts)}")
    (folder / "README.md").write_text(str(card))
    old = final.parent / f".{final.name}.old{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(folder, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


PUBLISHED = ("data", "README.md", ".gitattributes")
"""What a publish writes into its folder (and replaces on the next publish)."""


def _staging(folder: Path) -> Path:
    """An empty folder beside `folder` to build into, after removing what killed publishes left there."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.parent.glob(f".{folder.name}.tmp*"), *folder.parent.glob(f".{folder.name}.old*")]:
        shutil.rmtree(stale, ignore_errors=True)
    staging = folder.parent / f".{folder.name}.tmp{os.getpid()}"
    staging.mkdir()
    return staging


def _prose(info: CardInfo, counts: Mapping[str, Mapping[str, int]]) -> str:
    rows = "\n".join(f"| {c} | {s} | {n} |" for c, splits in counts.items() for s, n in splits.items())
    if info.source_dataset:
        source = _code(info.source_dataset) + (
            f" at revision {_code(info.source_revision)}" if info.source_revision else ""
        )
    else:
        source = "a local dataset that the publisher did not name"
    model = _code(info.model_id) if info.model_id else "a local model that the publisher did not name"
    model_ref = info.model_id or "<model id or folder>"
    lines = [
        f"# {_plain(info.pretty_name or 'GeNIe hard negatives')}",
        "",
        "Hard negatives generated with [GeNIe](https://arxiv.org/abs/2312.02548) by "
        "genie-transforms: each image keeps the look of a source image "
        "but carries the meaning of a contrasting target class, and is labelled with the **target** class.",
        "",
        "## How it was made",
        "",
        f"- Model: {model} at revision {_code(info.model_revision or 'unpinned')}",
        f"- Prompt template: {_code(info.prompt_template or 'a photo of a {}.')}",
        f"- Noise ratios: {', '.join(str(r) for r in info.noise_ratios)}",
        f"- Target strategy: {_code(info.strategy)}",
        f"- Seed: {info.seed} (each row's noise seed is derived from the seed, its source index and target)",
        f"- Source dataset: {source}, split {_code(info.source_split)}",
        f"- genie-transforms version: {__version__}",
    ]
    if info.settings:
        shown = ", ".join(
            f"{_plain(k.replace('_', ' '))} {_code('the model default' if v is None else v)}"
            for k, v in info.settings.items()
        )
        lines.append(f"- Generation settings: {shown}")
    if info.embedder:
        lines.append(f"- GeNIe-Ada embedder: {_code(info.embedder)}")
    if info.skipped_rows:
        shown = ", ".join(str(r) for r in info.skipped_rows[:20]) + (" ..." if len(info.skipped_rows) > 20 else "")
        lines.append(f"- Source rows skipped (images that could not be decoded): {len(info.skipped_rows)} ({shown})")
    lines += [f"- {_plain(k)}: {_plain(v)}" for k, v in info.extra.items()]
    if info.command:
        lines += ["", "Command:", "", *_fence(info.command)]
    lines += [
        "",
        "## Rows",
        "",
        "| config | split | rows |",
        "| --- | --- | --- |",
        rows,
        "",
        "## Use",
        "",
        *_fence('from datasets import load_dataset\n\nds = load_dataset("<repo id>", "<config>")', "python"),
    ]
    if "noise_table" in counts:
        lines += [
            "",
            "## Regenerate the GeNIe-Ada images from the noise table",
            "",
            "The `noise_table` config holds one row per (source, target) pair: the chosen ratio `r_star`, the grid, "
            "the projection curve and jumps, the seeds and the model. With the source split and the model it "
            "regenerates the `genie_ada` images without the sweep or the embedder:",
            "",
            *_fence(
                "from datasets import load_dataset\nfrom genie_transforms import GenieGenerator\n"
                "from genie_transforms.hub import load_noise_table, regenerate_ada_images\n\n"
                f"gen = GenieGenerator.from_pretrained({model_ref!r}, revision={info.model_revision!r})\n"
                f"source = load_dataset({info.source_dataset or '<source dataset>'!r}, "
                f"split={info.source_split!r})  # the split the table was made from\n"
                "# the table's own settings (steps, guidance, scheduler, ...) are applied; a wrong source is refused\n"
                f'out = regenerate_ada_images(gen, source, load_noise_table("<repo id>", split={info.source_split!r}))',
                "python",
            ),
        ]
    lines += ["", "## Credits", "", f"- Source images: {source}.", f"- Diffusion model: {model}."]
    if info.model_id == "genie-tiny-digits":
        lines.append(f"- {DIGITS_CREDIT}")
    lines += ["", "## Caveats", "", CAVEATS, "", "## Citation", "", *_fence(CITATION, "bibtex"), ""]
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
    [`regenerate_ada_images`] (no sweep, no embedder)."""
    return load_config(folder_or_repo, config, split)


def folder_files(folder: str | Path) -> list[tuple[str, int]]:
    """(path in repo, size in bytes) of every file that an upload of `folder` would send. Links are refused (an
    upload must not follow one out of the folder)."""
    folder = Path(folder)
    if not (folder / "README.md").is_file():
        raise FileNotFoundError(
            f"{folder} has no README.md dataset card; build the folder first with `genie publish` (or "
            "build_dataset_folder)."
        )
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if ".cache" in rel.parts:
            continue
        if path.is_symlink():
            raise ValueError(f"{path} is a symbolic link; a dataset folder to upload must hold only regular files.")
        if path.is_file():
            files.append((rel.as_posix(), path.stat().st_size))
    return files


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
    files. `large=True` uses `upload_large_folder` (resumable, for big folders) on huggingface_hub 1.x; from 2.0
    on, `upload_folder` itself commits large folders in batches and resumes when re-run (with `hf_xet`). A failure (no network, no
    permission) raises an `OSError` with one line that says what to do.
    """
    from huggingface_hub import HfApi

    check_repo_id(repo_id)
    files = folder_files(folder)
    if dry_run:
        return files
    api = HfApi(token=token or os.environ.get("HF_TOKEN") or None)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if large and hasattr(api, "upload_large_folder"):  # huggingface_hub 1.x; 2.x's upload_folder resumes itself
            api.upload_large_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset", print_report=False)
        else:
            api.upload_folder(
                repo_id=repo_id,
                folder_path=str(folder),
                repo_type="dataset",
                commit_message=commit_message or f"Upload GeNIe dataset (genie-transforms {__version__})",
            )
    except Exception as err:  # network, auth, rate limits: one clear line, never the token
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise OSError(
            f"Could not upload {folder} to the dataset repository {repo_id}: {reason}. Check your network and that "
            "your token (HF_TOKEN or `hf auth login`) may write to that namespace; re-running resumes."
        ) from err
    return files


def regenerate_ada_images(
    generator: Any,
    source: Dataset,
    table: Dataset,
    prompts: Any = None,
    image_column: str = "image",
    label_column: str = "label",
) -> Any:
    """Regenerate a published dataset's GeNIe-Ada images locally from its noise table and the source split: each
    row at its `r_star`, with its seed, source index and prompt (no sweep, no embedder). Returns a `GenieOutput`.
    Without `prompts`, each row's recorded prompt is used, with the source's class names."""
    from .ada import generate_from_table
    from .prompts import DEFAULT_TEMPLATE, PromptMap

    if "source_index" not in table.column_names:
        raise ValueError("The noise table has no `source_index` column; it was not made by genie-transforms.")
    if prompts is None:
        if label_column not in source.features or not hasattr(source.features[label_column], "names"):
            raise ValueError(f"The source has no ClassLabel column {label_column!r}; pass prompts=PromptMap([...]).")
        names = list(source.features[label_column].names)
        exact = dict(zip(table["target"], table["prompt"])) if "prompt" in table.column_names else {}
        prompts = PromptMap(names, template=generator.prompt_template or DEFAULT_TEMPLATE, overrides=exact)
    if len(table) and max(table["source_index"]) >= len(source):
        raise ValueError(
            f"The noise table refers to source rows up to {max(table['source_index'])}, but the source "
            f"split has {len(source)} rows; pass the same split (and --limit) the table was made from."
        )
    images = [source[int(i)][image_column] for i in table["source_index"]]
    return generate_from_table(generator, images, table, prompts)


__all__ = [
    "CAVEATS",
    "CITATION",
    "DIGITS_CREDIT",
    "NAME",
    "PUBLISHED",
    "SPLIT",
    "CardInfo",
    "build_dataset_folder",
    "check_name",
    "check_repo_id",
    "folder_files",
    "load_config",
    "load_noise_table",
    "push_folder",
    "regenerate_ada_images",
]
