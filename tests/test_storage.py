"""Job folders on a local disk, behind a file:// URI and in object storage (a local S3 server, moto)."""

import json

import pytest
from datasets import Dataset

from genie_transforms.storage import Folder, is_uri, redact


@pytest.fixture
def s3_uri(monkeypatch):
    """A fresh bucket on a local S3 server: a function from a path in it to its URI (endpoint in the query)."""
    pytest.importorskip("moto.server")
    from moto.server import ThreadedMotoServer
    from pyarrow import fs as pafs

    for key, value in (
        ("AWS_ACCESS_KEY_ID", "t"),
        ("AWS_SECRET_ACCESS_KEY", "t"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ):
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    query = f"endpoint_override={host}:{port}&scheme=http&region=us-east-1&allow_bucket_creation=true"
    pafs.FileSystem.from_uri(f"s3://bucket?{query}")[0].create_dir("bucket")
    yield lambda path: f"s3://bucket/{path}?{query}"
    server.stop()


@pytest.fixture(params=["path", "file-uri", "s3"])
def folder(request, tmp_path):
    if request.param == "path":
        return Folder(tmp_path / "job")
    if request.param == "file-uri":
        return Folder(f"file://{tmp_path}/job")
    return Folder(request.getfixturevalue("s3_uri")("job"))


def test_files_are_written_whole_and_read_back(folder):
    assert folder.size("job.json") is None and folder.files("chunks") == []
    folder.write_text("job.json", json.dumps({"seed": 1}))
    folder.write_bytes("chunks/a.bin", b"x" * 10)
    assert json.loads(Folder(folder.where).read_text("job.json")) == {"seed": 1}  # a new handle: what is stored
    assert folder.size("chunks/a.bin") == 10 and folder.files("chunks") == ["a.bin"]  # no temporary file left
    assert folder.digest("chunks/a.bin") == __import__("hashlib").sha256(b"x" * 10).hexdigest()
    folder.delete("chunks/a.bin")
    folder.delete("chunks/a.bin")  # deleting what is gone is fine
    assert not folder.is_file("chunks/a.bin")


def test_parquet_files_and_folder_replacement(folder):
    ds = Dataset.from_dict({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    written = folder.write_parquet(ds, "chunks/c0.parquet")
    assert (written.rows, written.bytes) == (3, folder.size("chunks/c0.parquet"))
    assert written.sha256 == folder.digest("chunks/c0.parquet")
    folder.write_parquet(ds.select([0]), "chunks/c1.parquet")
    folder.replace_folder("dataset", {"data/old.parquet": "chunks/c1.parquet"})
    folder.replace_folder(
        "dataset", {"data/train-0.parquet": "chunks/c0.parquet", "data/train-1.parquet": "chunks/c1.parquet"}
    )
    assert folder.files("dataset/data") == ["train-0.parquet", "train-1.parquet"]  # the old file is gone
    back = Folder(folder.where).read_dataset("dataset/data", exclude=("y",))
    assert back.column_names == ["x"] and back["x"] == [1, 2, 3, 1]


def test_locations_are_named_without_secrets(tmp_path):
    assert not is_uri(tmp_path) and is_uri("s3://b/x")
    assert Folder(tmp_path).uri("dataset") == str(tmp_path / "dataset")
    assert Folder("s3://b/x?region=eu-west-1").uri("dataset") == "s3://b/x/dataset?region=eu-west-1"
    assert str(Folder("s3://KEY:SECRET@b/x?region=eu-west-1")) == "s3://***@b/x?region=eu-west-1"
    assert redact("s3://KEY:SECRET@b/x/dataset") == "s3://***@b/x/dataset" and redact(tmp_path) == str(tmp_path)
    with pytest.raises(ValueError, match="not a filesystem URI pyarrow can open"):
        Folder("nosuchscheme://b/x")


def test_the_local_engine_writes_a_job_to_object_storage(s3_uri, tiny_generator):
    """A whole job (chunks, records, merge) in a bucket, read back from it; a resume there finds every chunk done."""
    import pyarrow.parquet as pq
    from datasets import Image as ImageFeature

    from genie_transforms.datasets import genie_map, output_features
    from genie_transforms.jobs import merge_chunks, missing_chunks, run_chunks

    from .helpers import build_dataset

    source = build_dataset(4).cast_column("image", ImageFeature(decode=False))
    fn = genie_map(tiny_generator, ["cat", "dog", "car", "boat"], targets="random_k:1")
    features = output_features(source.features["label"])
    uri = s3_uri("runs/job")
    run = lambda: run_chunks(source, fn, features, uri, config=fn.config, chunk_size=3, progress=False)  # noqa: E731
    assert run()["chunks_done"] == 2 and missing_chunks(uri, deep=True) == []
    assert run()["chunks_skipped"] == 2
    merged = Folder(merge_chunks(uri))
    assert merged.files("data") == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    table = pq.read_table(merged.path("data/train-00000-of-00002.parquet"), filesystem=merged.fs)
    assert table.column("source_index").to_pylist() == [0, 1, 2]
    assert table.column("noise_seed").to_pylist() == fn(source[:3], [0, 1, 2])["noise_seed"]
