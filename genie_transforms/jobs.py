"""Resumable, sharded generation jobs: parquet chunks written atomically, finished chunks never redone.

The source rows are cut into a fixed grid of chunks (`chunk_size` rows each). Shard `i` of `n` takes the chunks
`k` with `k % n == i`, so shards of a job are the same rows whatever the number of processes, and a job resumed
with another number of shards still reuses every finished chunk. Each chunk is written to a temporary name and
renamed, so a crash or Ctrl-C leaves only whole chunks behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, load_dataset, load_from_disk
from tqdm.auto import tqdm

from .parquet import write_parquet

JOB_FILE = "job.json"


def load_source(dataset: str, split: str = "train", config: str | None = None, revision: str | None = None) -> Dataset:
    """A split of a dataset given as a Hub id, a `save_to_disk` folder, or a data folder (`imagefolder`, parquet)."""
    path = Path(dataset).expanduser()
    if path.exists():
        if (path / "dataset_dict.json").is_file():
            loaded = load_from_disk(str(path))
            if split not in loaded:
                raise ValueError(f"{dataset} has no split {split!r}; its splits are {list(loaded)}.")
            return loaded[split]
        if (path / "state.json").is_file():
            return load_from_disk(str(path))
        return load_dataset(str(path), name=config, split=split)
    try:
        return load_dataset(dataset, name=config, split=split, revision=revision)
    except Exception as err:
        raise OSError(f"Could not load dataset {dataset!r} (split {split!r}): {err}") from err


def shard_chunks(num_rows: int, chunk_size: int, num_shards: int, shard_index: int) -> list[tuple[int, int, int]]:
    """The (chunk number, start, stop) of the chunks that shard `shard_index` of `num_shards` owns."""
    if chunk_size < 1:
        raise ValueError(f"`chunk_size` must be >= 1, got {chunk_size}.")
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"`shard_index` must be in [0, num_shards), got {shard_index} of {num_shards}.")
    n_chunks = -(-num_rows // chunk_size)
    return [(k, k * chunk_size, min(num_rows, (k + 1) * chunk_size)) for k in range(shard_index, n_chunks, num_shards)]


def _check_job(out_dir: Path, config: Mapping[str, Any]) -> None:
    """Write the job's settings, or refuse to mix a different job's chunks into an existing folder."""
    job_file = out_dir / JOB_FILE
    config = json.loads(json.dumps(config, default=str))
    if job_file.is_file():
        previous = json.loads(job_file.read_text())
        if previous != config:
            changed = sorted(k for k in set(previous) | set(config) if previous.get(k) != config.get(k))
            raise ValueError(
                f"{out_dir} holds a job with other settings ({', '.join(changed)} differ); resume it with the same "
                "settings, or write to a new --output folder."
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = job_file.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True))
    os.replace(tmp, job_file)


def chunk_path(out_dir: Path, k: int) -> Path:
    return out_dir / "chunks" / f"chunk-{k:06d}.parquet"


def run_chunks(
    ds: Dataset,
    fn: Callable[[dict[str, list], list[int]], dict[str, list]],
    features: Features,
    out_dir: str | Path,
    *,
    config: Mapping[str, Any],
    chunk_size: int = 64,
    num_shards: int = 1,
    shard_index: int = 0,
    rows_per_call: int | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Run `fn` (a `genie_map`-style batch function) over this shard's chunks, skipping finished ones.

    Each chunk is generated `rows_per_call` source rows at a time (the whole chunk by default), so that the
    progress bar moves with every call; `fn` gives the same rows for any split. Returns counts: chunks done now,
    chunks skipped (finished before), source rows processed and rows written.
    """
    step = rows_per_call or chunk_size
    out_dir = Path(out_dir)
    _check_job(out_dir, {**config, "num_rows": len(ds), "chunk_size": chunk_size, "features": features.to_dict()})
    (out_dir / "chunks").mkdir(parents=True, exist_ok=True)
    chunks = shard_chunks(len(ds), chunk_size, num_shards, shard_index)
    todo = [c for c in chunks if not chunk_path(out_dir, c[0]).is_file()]
    done_rows = sum(stop - start for _, start, stop in chunks) - sum(stop - start for _, start, stop in todo)
    stats = {"chunks_done": 0, "chunks_skipped": len(chunks) - len(todo), "rows_in": 0, "rows_out": 0}
    total = sum(stop - start for _, start, stop in chunks)
    with tqdm(total=total, initial=done_rows, desc=f"shard {shard_index}/{num_shards}", unit="src",
              disable=not progress) as bar:  # fmt: skip
        for k, start, stop in todo:
            rows: dict[str, list] = {}
            for a in range(start, stop, step):
                b = min(stop, a + step)
                part = fn(ds[a:b], list(range(a, b)))
                for name, values in part.items():
                    rows.setdefault(name, []).extend(values)
                bar.update(b - a)
            write_parquet(Dataset.from_dict(rows, features=features), chunk_path(out_dir, k))
            stats["chunks_done"] += 1
            stats["rows_in"] += stop - start
            stats["rows_out"] += len(rows["label"])
            bar.set_postfix(generated=stats["rows_out"])
    return stats


def missing_chunks(out_dir: str | Path) -> list[int]:
    """Chunk numbers of the job in `out_dir` that no shard has finished yet."""
    out_dir = Path(out_dir)
    job = json.loads((out_dir / JOB_FILE).read_text())
    n_chunks = -(-job["num_rows"] // job["chunk_size"])
    return [k for k in range(n_chunks) if not chunk_path(out_dir, k).is_file()]


def merge_chunks(out_dir: str | Path, split: str = "train", max_rows_per_file: int = 10_000) -> Path:
    """Merge a finished job's chunks into `out_dir/dataset/`, which `datasets.load_dataset(<that dir>)` reads."""
    out_dir = Path(out_dir)
    missing = missing_chunks(out_dir)
    if missing:
        raise ValueError(
            f"{out_dir} is not finished: chunks {missing[:10]}{' ...' if len(missing) > 10 else ''} are missing. "
            "Run the remaining shards (the same command resumes) before merging."
        )
    job = json.loads((out_dir / JOB_FILE).read_text())
    features = Features.from_dict(job["features"])
    files = sorted(str(p) for p in (out_dir / "chunks").glob("chunk-*.parquet"))
    merged = Dataset.from_parquet(files, features=features, keep_in_memory=True)
    data_dir = out_dir / "dataset" / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob(f"{split}-*.parquet"):
        old.unlink()
    n_files = max(1, -(-len(merged) // max_rows_per_file))
    for i in range(n_files):
        write_parquet(merged.shard(n_files, i, contiguous=True), data_dir / f"{split}-{i:05d}-of-{n_files:05d}.parquet")
    return out_dir / "dataset"
