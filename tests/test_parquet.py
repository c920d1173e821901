"""The one parquet writer (`genie_transforms.parquet`): self-contained, atomic, with a verifiable manifest entry;
every check reads the file back from disk."""

import hashlib
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, Features, Value, load_dataset
from datasets import Image as ImageFeature
from PIL import Image

from genie_transforms.parquet import embed_images, write_parquet


@pytest.fixture
def folder_dataset(tmp_path):
    """A dataset whose images refer to files by path (as an image folder's do)."""
    paths = []
    for i in range(3):
        path = tmp_path / "images" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(path)
        paths.append(str(path))
    features = Features({"image": ImageFeature(), "label": Value("int64")})
    return Dataset.from_dict({"image": paths, "label": [0, 1, 2]}, features=features)


def test_images_are_embedded_so_the_file_stands_alone(tmp_path, folder_dataset):
    out = tmp_path / "out" / "data.parquet"
    written = write_parquet(folder_dataset, out)
    for path in (tmp_path / "images").iterdir():
        path.unlink()  # the originals are gone: the parquet file must not need them
    back = load_dataset("parquet", data_files=str(out), split="train")
    assert back["label"] == [0, 1, 2]
    assert [int(np.asarray(image)[0, 0, 0]) for image in back["image"]] == [0, 40, 80]
    assert written.rows == 3 and written.bytes == out.stat().st_size
    assert written.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert pq.read_table(out).column("image")[0].as_py()["bytes"]  # bytes, not a path


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path, folder_dataset, monkeypatch):
    out = tmp_path / "data.parquet"

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        write_parquet(folder_dataset, out)
    assert list(tmp_path.glob("*.parquet")) == [] and list(tmp_path.glob(".*tmp*")) == []


def test_a_rewrite_replaces_the_file_whole(tmp_path, folder_dataset):
    out = tmp_path / "data.parquet"
    write_parquet(folder_dataset, out)
    write_parquet(folder_dataset.select([0]), out)
    assert load_dataset("parquet", data_files=str(out), split="train")["label"] == [0]


def test_a_dataset_without_images_is_written_as_it_is(tmp_path):
    ds = Dataset.from_dict({"x": [1, 2]})
    assert embed_images(ds) is ds
    write_parquet(ds, tmp_path / "x.parquet")
    assert load_dataset("parquet", data_files=str(tmp_path / "x.parquet"), split="train")["x"] == [1, 2]
