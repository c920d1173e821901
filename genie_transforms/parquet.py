"""The one parquet writer of the package (job chunks, merged datasets, Hub folders): self-contained and atomic."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset
from datasets.table import embed_table_storage

from .loading import file_digest


@dataclass(frozen=True)
class WrittenFile:
    """What a finished parquet file holds, for a manifest that a later run verifies."""

    rows: int
    bytes: int
    sha256: str


def embed_images(ds: Dataset) -> Dataset:
    """`ds` with every image stored as bytes in the table (an image column read from an image folder refers to
    files by path until then); what `push_to_hub(embed_external_files=True)` does."""
    if not any(getattr(feature, "decode", None) is not None for feature in ds.features.values()):
        return ds
    formatted = ds.with_format("arrow")
    embedded = formatted.map(embed_table_storage, batched=True, keep_in_memory=True, desc=None)
    return embedded.with_format(**ds.format)


def write_parquet(ds: Dataset, path: str | Path) -> WrittenFile:
    """Write `ds` to `path` with its images embedded: to a temporary file in the same folder, flushed to disk
    (fsync), then renamed, so `path` is either absent or whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        embed_images(ds).to_parquet(str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        written = WrittenFile(rows=len(ds), bytes=tmp.stat().st_size, sha256=file_digest(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return written


__all__ = [
    "WrittenFile",
    "embed_images",
    "write_parquet",
]
