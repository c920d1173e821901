import json
import os

import numpy as np
import pytest
from datasets import load_dataset

from genie_transforms import GenieGenerator
from genie_transforms.cli import main
from genie_transforms.jobs import chunk_path, merge_chunks, missing_chunks, shard_chunks

from .helpers import generate_args


@pytest.fixture
def source_dir(saved_source):
    return saved_source(10)


def test_shard_chunks_cover_every_row_once():
    owned = [c for i in range(3) for c in shard_chunks(10, 3, 3, i)]
    assert sorted(owned) == [(0, 0, 3), (1, 3, 6), (2, 6, 9), (3, 9, 10)]
    with pytest.raises(ValueError, match="shard_index"):
        shard_chunks(10, 3, 2, 2)


def test_generate_writes_chunks_and_a_loadable_dataset(source_dir, tiny_model_path, tmp_path):
    out = tmp_path / "job"
    assert main(generate_args(source_dir, tiny_model_path, out)) == 0
    assert len(list((out / "chunks").glob("chunk-*.parquet"))) == 4
    ds = load_dataset(str(out / "dataset"), split="train")
    assert len(ds) == 10 and sorted(ds["source_index"]) == list(range(10))
    assert ds.features["label"].names == ["cat", "dog", "car", "boat"]
    assert json.loads((out / "job.json").read_text())["targets"] == {"name": "random_k", "k": 1}


def test_resume_after_a_crash_redoes_nothing_and_loses_nothing(
    source_dir, tiny_model_path, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "job"
    real = GenieGenerator.generate
    calls = {"n": 0}

    def crashing(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated crash in the third chunk")
        return real(self, *a, **k)

    monkeypatch.setattr(GenieGenerator, "generate", crashing)
    assert main(generate_args(source_dir, tiny_model_path, out)) == 130  # Ctrl-C: one line, no traceback
    assert "run the same command again to resume" in capsys.readouterr().err
    finished = sorted((out / "chunks").glob("chunk-*.parquet"))
    assert len(finished) == 2 and not (out / "dataset").exists()
    mtimes = {p: p.stat().st_mtime_ns for p in finished}

    calls["n"] = -100  # no more crashes; count the chunks generated on resume
    assert main(generate_args(source_dir, tiny_model_path, out)) == 0
    assert calls["n"] == -100 + 2  # only the two missing chunks were generated
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
    ds = load_dataset(str(out / "dataset"), split="train")
    assert sorted(ds["source_index"]) == list(range(10))  # complete, no duplicates


def test_two_shards_give_the_same_rows_as_one_process(source_dir, tiny_model_path, tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    main(generate_args(source_dir, tiny_model_path, single))
    assert main(generate_args(source_dir, tiny_model_path, sharded, "--num-shards", "2", "--shard-index", "1")) == 0
    assert not (sharded / "dataset").exists()  # shard 0 is still to do
    with pytest.raises(ValueError, match="not finished: chunks \\[0, 2\\]"):
        merge_chunks(sharded)
    assert main(generate_args(source_dir, tiny_model_path, sharded, "--num-shards", "2", "--shard-index", "0")) == 0
    a = load_dataset(str(single / "dataset"), split="train")
    b = load_dataset(str(sharded / "dataset"), split="train")
    assert a["source_index"] == b["source_index"] and a["label"] == b["label"] and a["noise_seed"] == b["noise_seed"]
    for x, y in zip(a["image"], b["image"]):
        assert np.abs(np.asarray(x, dtype=int) - np.asarray(y, dtype=int)).max() <= 2


def test_a_resumed_job_must_keep_its_settings(source_dir, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "job"
    main(generate_args(source_dir, tiny_model_path, out, "--limit", "3"))
    assert main(generate_args(source_dir, tiny_model_path, out, "--limit", "3", "--seed", "5")) == 1
    assert "other settings (seed: 0 in the job, 5 now)" in capsys.readouterr().err


def test_the_progress_bar_moves_with_every_batch(tiny_generator, tmp_path, capsys, make_dataset):
    from genie_transforms.datasets import genie_map, output_features
    from genie_transforms.jobs import run_chunks

    ds = make_dataset(6)
    calls = []
    fn = genie_map(tiny_generator, ["cat", "dog", "car", "boat"], noise_ratio=1.0, targets="random_k:1")

    def counted(batch, indices):
        calls.append(list(indices))
        return fn(batch, indices)

    stats = run_chunks(
        ds,
        counted,
        output_features(ds.features["label"]),
        tmp_path / "job",
        config={},
        chunk_size=6,
        rows_per_call=2,
        progress=True,
    )
    assert calls == [[0, 1], [2, 3], [4, 5]] and stats["rows_out"] == 6
    err = capsys.readouterr().err
    assert "6/6" in err and "shard 0/1" in err  # (tqdm shows the in-between updates as time allows)


def test_replaced_weights_are_another_model_for_the_cache_and_for_a_resume(
    tiny_model_path, tmp_path, make_dataset, saved_source, capsys
):
    import shutil

    from genie_transforms.datasets import generate_hard_negatives
    from genie_transforms.testing import make_tiny_pipeline

    model = tmp_path / "model"
    shutil.copytree(tiny_model_path, model)
    ds = make_dataset(3)
    first = generate_hard_negatives(
        ds,
        GenieGenerator.from_pretrained(model, num_inference_steps=2, progress=False),
        noise_ratio=1.0,
        targets="random_k:1",
    )
    source, out = saved_source(4), tmp_path / "job"
    assert main(generate_args(source, model, out, "--chunk-size", "2", "--limit", "2")) == 0
    make_tiny_pipeline(seed=7).save_pretrained(model, safe_serialization=True)  # new weights at the same path
    again = generate_hard_negatives(
        ds,
        GenieGenerator.from_pretrained(model, num_inference_steps=2, progress=False),
        noise_ratio=1.0,
        targets="random_k:1",
    )
    assert again["model_revision"][0] != first["model_revision"][0]  # a cache miss: generated anew
    assert any(
        np.abs(np.asarray(a, int) - np.asarray(b, int)).max() > 0 for a, b in zip(first["image"], again["image"])
    )
    capsys.readouterr()
    assert main(generate_args(source, model, out, "--chunk-size", "2", "--limit", "2")) == 1
    err = capsys.readouterr().err
    assert "generator.model_revision: 'sha256:" in err and "in the job" in err and "now" in err


def test_a_replaced_source_and_changed_settings_are_named_with_both_values(
    tiny_model_path, tmp_path, make_dataset, capsys
):
    source, out = tmp_path / "source", tmp_path / "job"
    make_dataset(4).save_to_disk(str(source))
    assert main(generate_args(source, tiny_model_path, out, "--dataset-revision", "v1")) == 0
    capsys.readouterr()
    assert main(generate_args(source, tiny_model_path, out, "--dataset-revision", "v1", "--steps", "3")) == 1
    assert "generator.num_inference_steps: 2 in the job, 3 now" in capsys.readouterr().err
    import shutil

    shutil.rmtree(source)
    make_dataset(4, names=["cat", "dog", "car", "boat"]).map(lambda r: {"label": 3 - r["label"]}).save_to_disk(
        str(source)
    )
    assert main(generate_args(source, tiny_model_path, out, "--dataset-revision", "v1")) == 1
    assert "source.fingerprint:" in capsys.readouterr().err  # same path, same row count, other data
    job = json.loads((out / "job.json").read_text())
    assert job["source"]["revision"] == "v1" and job["source"]["num_rows"] == 4 and job["source"]["fingerprint"]


def test_broken_chunks_are_named_and_generated_again(source_dir, tiny_model_path, tmp_path, caplog):
    out = tmp_path / "job"
    assert main(generate_args(source_dir, tiny_model_path, out)) == 0
    whole = load_dataset(str(out / "dataset"), split="train")
    first, second = chunk_path(out, 1), chunk_path(out, 2)
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])  # truncated
    second.write_bytes(b"")  # emptied
    assert sorted(missing_chunks(out)) == [1, 2]
    with pytest.raises(ValueError, match=r"chunks \[1, 2\] are missing or broken"):
        merge_chunks(out)
    with caplog.at_level("WARNING"):
        assert main(generate_args(source_dir, tiny_model_path, out)) == 0
    assert "Chunk 1 (chunks/chunk-000001.parquet) is broken" in caplog.text and "Chunk 2" in caplog.text
    again = load_dataset(str(out / "dataset"), split="train")
    assert sorted(again["source_index"]) == list(range(10)) and again["noise_seed"] == whole["noise_seed"]


def test_a_chunk_belongs_to_one_process_at_a_time(tmp_path):
    from genie_transforms.jobs import ChunkLock

    path = tmp_path / ".chunk-000000.lock"
    a, b = ChunkLock(path), ChunkLock(path)
    assert a.acquire() and not b.acquire() and b.owner().endswith(f":{os.getpid()}")
    a.release()
    assert b.acquire()
    b.release()
    # what a dead owner leaves: its host and pid in the file, but no lock. Another host's owner, or this very pid
    # after a container restart, held such a chunk forever before; now it is taken at once.
    import socket

    for left in ("another-host:123", f"{socket.gethostname()}:{os.getpid()}"):
        path.write_text(left)
        lock = ChunkLock(path)
        assert lock.acquire() and lock.owner() == f"{socket.gethostname()}:{os.getpid()}"
        lock.release()


def test_a_lock_ends_with_its_process_however_it_ends(tmp_path):
    """A process killed with SIGKILL while it holds a chunk: the next process takes the chunk at once."""
    import signal
    import subprocess
    import sys

    from genie_transforms.jobs import ChunkLock

    path = tmp_path / ".chunk-000003.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from genie_transforms.jobs import ChunkLock; "
            f"assert ChunkLock(Path({str(path)!r})).acquire(); print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = ChunkLock(path)
        assert not mine.acquire() and mine.owner().endswith(f":{holder.pid}")
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert mine.acquire()
        mine.release()
    finally:
        holder.kill()


@pytest.mark.slow
def test_two_processes_on_one_job_folder_never_do_a_chunk_twice(saved_source, tiny_model_path, tmp_path):
    import subprocess
    import sys

    source, out = saved_source(8), tmp_path / "job"
    command = [
        sys.executable,
        "-m",
        "genie_transforms",
        *generate_args(source, tiny_model_path, out, "--chunk-size", "1"),
    ]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    import re

    written = [int(re.search(r"(\d+) chunks written", o).group(1)) for o, _ in outputs]
    assert sum(written) == 8  # every chunk once, shared between the two
    ds = load_dataset(str(out / "dataset"), split="train")
    assert sorted(ds["source_index"]) == list(range(8))


def test_everything_that_can_be_checked_is_checked_before_working(
    saved_source, tiny_model_path, tmp_path, capsys, make_dataset
):
    source = saved_source(4)
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    assert main(generate_args(source, tiny_model_path, tmp_path / "a", "--class-names", str(names))) == 2
    assert "has 2 names, but 'label' has 4 classes" in capsys.readouterr().err
    assert main(generate_args(source, tiny_model_path, tmp_path / "b", "--noise-ratio", "0.5", "0.5")) == 1
    assert "repeats [0.5]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(generate_args(source, tiny_model_path, tmp_path / "c", "--limit", "0"))
    unlabelled = tmp_path / "unlabelled"
    from datasets import ClassLabel, Value

    ds = (
        make_dataset(4)
        .cast_column("label", Value("int64"))
        .map(lambda r, i: {"label": -1 if i == 2 else r["label"]}, with_indices=True)
    )
    ds.cast_column("label", ClassLabel(names=["cat", "dog", "car", "boat"])).save_to_disk(str(unlabelled))
    assert main(generate_args(unlabelled, tiny_model_path, tmp_path / "d")) == 1
    assert "1 source rows are labelled -1 (no label), e.g. rows [2]" in capsys.readouterr().err
    assert not any((tmp_path / x).exists() for x in ("a", "b", "d"))


def test_skipped_rows_are_counted_recorded_and_published(tiny_model_path, tmp_path, capsys, make_dataset):
    from datasets import Image as ImageFeature

    ds = make_dataset(4).cast_column("image", ImageFeature(decode=False))
    broken = ds.map(
        lambda r, i: {"image": {"bytes": b"not an image", "path": None} if i == 1 else r["image"]},
        with_indices=True,
        features=ds.features,
    )
    broken.save_to_disk(str(tmp_path / "source"))
    out = tmp_path / "job"
    assert main(generate_args(tmp_path / "source", tiny_model_path, out, "--errors", "skip")) == 0
    assert "1 source rows skipped (undecodable images: [1])" in capsys.readouterr().out
    assert json.loads((out / "job.json").read_text())["skipped_rows"] == [1]
    assert main(["publish", "--genie", str(out), "--output", str(tmp_path / "repo")]) == 0
    assert (
        "Source rows skipped (images that could not be decoded): 1 (1)" in (tmp_path / "repo" / "README.md").read_text()
    )


def test_merging_links_the_chunk_files_instead_of_loading_them(source_dir, tiny_model_path, tmp_path):
    out = tmp_path / "job"
    assert main(generate_args(source_dir, tiny_model_path, out)) == 0
    merged = sorted((out / "dataset" / "data").glob("*.parquet"))
    chunks = sorted((out / "chunks").glob("chunk-*.parquet"))
    assert [p.stat().st_ino for p in merged] == [p.stat().st_ino for p in chunks]  # the same files, not copies


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_real_launchers_give_the_rows_of_one_process(saved_source, tiny_model_path, tmp_path, launcher):
    """`torchrun --nproc_per_node 2` and `accelerate launch --num_processes 2` on the CPU: each process takes its
    shard from RANK / WORLD_SIZE, and the merged dataset equals a one-process run, row for row."""
    import shutil
    import subprocess
    import sys

    source = saved_source(10)
    single, launched = tmp_path / "single", tmp_path / "launched"
    assert main(generate_args(source, tiny_model_path, single)) == 0
    args = generate_args(source, tiny_model_path, launched)
    if launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "genie_transforms.cli"]
    else:
        if shutil.which("accelerate") is None:
            pytest.skip("accelerate is not installed")
        # on a machine without GPUs, --multi_gpu starts the processes with torchrun's variables (no NCCL is used)
        command = [
            "accelerate",
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "genie_transforms.cli",
        ]
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "shard 0/2" in result.stdout + result.stderr and "shard 1/2" in result.stdout + result.stderr
    a = load_dataset(str(single / "dataset"), split="train").sort(["source_index", "label"])
    b = load_dataset(str(launched / "dataset"), split="train").sort(["source_index", "label"])
    assert a["source_index"] == b["source_index"] and a["label"] == b["label"] and a["noise_seed"] == b["noise_seed"]
    for x, y in zip(a["image"], b["image"]):
        assert np.abs(np.asarray(x, dtype=int) - np.asarray(y, dtype=int)).max() <= 2


def test_a_streamed_source_gives_the_rows_of_the_eager_one(tiny_model_path, tmp_path, make_dataset):
    from datasets import load_dataset as load

    from genie_transforms.datasets import generate_hard_negatives

    make_dataset(5).to_parquet(str(tmp_path / "data" / "train.parquet"))
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=2, progress=False)
    eager = generate_hard_negatives(
        load(str(tmp_path / "data"), split="train", cache_dir=str(tmp_path / "c")),
        gen,
        noise_ratio=1.0,
        targets="random_k:1",
        batch_size=2,
    )
    streamed = generate_hard_negatives(
        load(str(tmp_path / "data"), split="train", streaming=True),
        gen,
        noise_ratio=1.0,
        targets="random_k:1",
        batch_size=2,
    )
    rows = list(streamed)
    assert [r["source_index"] for r in rows] == eager["source_index"] and [r["noise_seed"] for r in rows] == eager[
        "noise_seed"
    ]
    for a, b in zip(rows, eager):
        assert np.abs(np.asarray(a["image"], int) - np.asarray(b["image"], int)).max() <= 2
    out, eager_out = tmp_path / "streamed-job", tmp_path / "eager-job"
    assert main(generate_args(tmp_path / "data", tiny_model_path, out, "--streaming", "--limit", "5")) == 0
    assert main(generate_args(tmp_path / "data", tiny_model_path, eager_out)) == 0
    a = load_dataset(str(out / "dataset"), split="train")
    b = load_dataset(str(eager_out / "dataset"), split="train")
    assert a["source_index"] == b["source_index"] and a["noise_seed"] == b["noise_seed"]


def test_a_chunk_replaced_with_other_content_of_the_same_size_is_caught_by_its_checksum(
    source_dir, tiny_model_path, tmp_path
):
    out = tmp_path / "job"
    assert main(generate_args(source_dir, tiny_model_path, out)) == 0
    path = chunk_path(out, 0)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    path.write_bytes(bytes(data))
    assert missing_chunks(out) == [] and missing_chunks(out, deep=True) == [0]
    with pytest.raises(ValueError, match=r"chunks \[0\] are missing or broken"):
        merge_chunks(out)
    assert main(generate_args(source_dir, tiny_model_path, out)) == 0  # the resume regenerates it
    assert missing_chunks(out, deep=True) == []


def test_a_streamed_source_has_an_identity_and_a_resume_on_changed_data_is_refused(
    tiny_model_path, tmp_path, make_dataset, capsys
):
    """The silent failure first: a streaming job had no source fingerprint, so a resume accepted other data that
    the eager path refuses."""
    import json

    from genie_transforms.jobs import stream_identity

    data = tmp_path / "data" / "train.parquet"
    data.parent.mkdir()
    make_dataset(5).to_parquet(str(data))
    out = tmp_path / "job"
    args = generate_args(tmp_path / "data", tiny_model_path, out, "--streaming", "--limit", "4")
    assert main(args) == 0
    recorded = json.loads((out / "job.json").read_text())["source"]["fingerprint"]
    assert recorded == stream_identity(str(tmp_path / "data")) and recorded.startswith("files:sha256:")
    make_dataset(6).select(range(1, 6)).to_parquet(str(data))  # other rows in the same file
    capsys.readouterr()
    assert main(args) != 0
    assert "fingerprint" in capsys.readouterr().err
    assert stream_identity("org/unknown-dataset", "abc123") == "revision:abc123"  # offline: the pinned revision


def test_a_job_folder_merges_only_the_chunks_its_job_json_describes(source_dir, tiny_model_path, tmp_path):
    """The silent failure first: a sync-conflict copy and a chunk of a longer job in `chunks/`, then `job.json`
    reset for a job with another seed: the merge holds each source row once, of the job as it is now (it gave 16
    rows for 8 sources with exit 0)."""
    import json
    import shutil

    from genie_transforms.jobs import stray_files

    out = tmp_path / "job"
    assert main(generate_args(source_dir, tiny_model_path, out, "--limit", "6")) == 0
    chunks = out / "chunks"
    shutil.copy(chunk_path(out, 0), chunks / "chunk-000000 (conflict).parquet")
    shutil.copy(chunk_path(out, 1), chunks / "chunk-000007.parquet")  # beyond the two chunks the job has
    assert stray_files(out) == ["chunk-000000 (conflict).parquet", "chunk-000007.parquet"]
    merge_chunks(out)
    merged = load_dataset(str(out / "dataset"), split="train")
    assert sorted(merged["source_index"]) == list(range(6))
    first_seeds = merged["noise_seed"]

    (out / "job.json").unlink()  # reset: the same folder, another job
    assert main(generate_args(source_dir, tiny_model_path, out, "--limit", "6", "--seed", "1")) == 0
    assert json.loads((out / "job.json").read_text())["seed"] == 1
    again = load_dataset(str(out / "dataset"), split="train")
    assert sorted(again["source_index"]) == list(range(6))
    assert not set(again["noise_seed"]) & set(first_seeds)  # every chunk was made again, none kept from seed 0


def test_sigterm_ends_a_job_like_ctrl_c(source_dir, tiny_model_path, tmp_path, monkeypatch, capsys):
    """A scheduler's preemption or `kill` sends SIGTERM: finished chunks are kept and one line says to re-run."""
    import signal

    out = tmp_path / "job"
    real = GenieGenerator.generate
    calls = {"n": 0}

    def terminated(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, *a, **k)

    monkeypatch.setattr(GenieGenerator, "generate", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert main(generate_args(source_dir, tiny_model_path, out)) == 130
    err = capsys.readouterr().err
    assert "interrupted; finished work is kept" in err and "Traceback" not in err
    assert len(list((out / "chunks").glob("chunk-*.parquet"))) >= 1
    assert signal.getsignal(signal.SIGTERM) == before  # the caller's handler is back


def test_a_killed_merge_leaves_nothing_hidden_after_the_next_one(source_dir, tiny_model_path, tmp_path):
    out = tmp_path / "job"
    assert main(generate_args(source_dir, tiny_model_path, out, "--limit", "3")) == 0
    for leftover in (".dataset.tmp123", ".dataset.old456"):  # what a merge killed between its steps leaves
        (out / leftover / "data").mkdir(parents=True)
    merge_chunks(out)
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert hidden == [".merge.lock"]  # the merge's lock file stays (unlocked); no staging or old folder is left


def _pixels(batch, indices):
    """A map function that records which source row it was given and that row's first pixel and label."""
    from PIL import Image

    images = [Image.open(__import__("io").BytesIO(value["bytes"])) for value in batch["image"]]
    return {"label": batch["label"], "source_index": indices, "pixel": [int(im.getpixel((0, 0))[0]) for im in images]}


def test_a_stream_is_read_once_per_shard_for_its_own_rows(tmp_path):
    """Each shard of a streamed parquet source opens the stream at the file holding its first row and reads its
    own rows (and the start of that file) only; the rows are the ones the split on disk has at those indices."""
    from datasets import Features, Value
    from datasets import Image as ImageFeature

    from genie_transforms.jobs import run_chunks

    from .helpers import build_dataset

    whole = build_dataset(24)
    sizes, start = [5, 7, 3, 9], 0
    (tmp_path / "src" / "data").mkdir(parents=True)
    for j, n in enumerate(sizes):
        whole.select(range(start, start + n)).to_parquet(str(tmp_path / "src" / "data" / f"train-{j:05d}.parquet"))
        start += n
    features = Features({"label": Value("int64"), "source_index": Value("int64"), "pixel": Value("int64")})
    expected = [int(im.getpixel((0, 0))[0]) for im in whole["image"]]

    def run(stream, out, shard):
        return run_chunks(
            stream.cast_column("image", ImageFeature(decode=False)),
            _pixels,
            features,
            out,
            config={"command": "test"},
            chunk_size=4,
            num_shards=3,
            shard_index=shard,
            num_rows=24,
            progress=False,
        )

    parquet = load_dataset(str(tmp_path / "src"), split="train", streaming=True)
    read = [run(parquet, tmp_path / "job", shard)["stream_rows_read"] for shard in range(3)]
    assert read == [8, 8 + 3, 8 + 1]  # own rows, plus the rows of the first file before the shard's first row
    rows = load_dataset(str(merge_chunks(tmp_path / "job")), split="train")
    assert rows["source_index"] == list(range(24)) and rows["pixel"] == expected and rows["label"] == whole["label"]

    other = whole.to_iterable_dataset()  # not parquet files: read from the first row, passing over earlier rows
    assert [run(other, tmp_path / "other", shard)["stream_rows_read"] for shard in range(3)] == [8, 16, 24]
    assert load_dataset(str(merge_chunks(tmp_path / "other")), split="train")["pixel"] == expected
