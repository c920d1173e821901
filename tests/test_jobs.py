import json

import numpy as np
import pytest
from datasets import load_dataset

from genie_transforms import GenieGenerator
from genie_transforms.cli import main
from genie_transforms.jobs import merge_chunks, shard_chunks



@pytest.fixture
def source_dir(saved_source):
    return saved_source(10)


def _args(source_dir, tiny_model_path, out, *extra):
    return ["generate", "--dataset", str(source_dir), "--model", str(tiny_model_path), "--steps", "2",
            "--noise-ratio", "1.0", "--strategy", "random_k:1", "--chunk-size", "3", "--output", str(out),
            "--no-progress", *extra]  # fmt: skip


def _key(ds):
    return sorted(zip(ds["source_index"], ds["label"]))


def test_shard_chunks_cover_every_row_once():
    owned = [c for i in range(3) for c in shard_chunks(10, 3, 3, i)]
    assert sorted(owned) == [(0, 0, 3), (1, 3, 6), (2, 6, 9), (3, 9, 10)]
    with pytest.raises(ValueError, match="shard_index"):
        shard_chunks(10, 3, 2, 2)


def test_generate_writes_chunks_and_a_loadable_dataset(source_dir, tiny_model_path, tmp_path):
    out = tmp_path / "job"
    assert main(_args(source_dir, tiny_model_path, out)) == 0
    assert len(list((out / "chunks").glob("chunk-*.parquet"))) == 4
    ds = load_dataset(str(out / "dataset"), split="train")
    assert len(ds) == 10 and sorted(ds["source_index"]) == list(range(10))
    assert ds.features["label"].names == ["cat", "dog", "car", "boat"]
    assert json.loads((out / "job.json").read_text())["targets"] == {"name": "random_k", "k": 1}


def test_resume_after_a_crash_redoes_nothing_and_loses_nothing(source_dir, tiny_model_path, tmp_path, monkeypatch,
                                                               capsys):  # fmt: skip
    out = tmp_path / "job"
    real = GenieGenerator.generate
    calls = {"n": 0}

    def crashing(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated crash in the third chunk")
        return real(self, *a, **k)

    monkeypatch.setattr(GenieGenerator, "generate", crashing)
    assert main(_args(source_dir, tiny_model_path, out)) == 130  # Ctrl-C: one line, no traceback
    assert "run the same command again to resume" in capsys.readouterr().err
    finished = sorted((out / "chunks").glob("chunk-*.parquet"))
    assert len(finished) == 2 and not (out / "dataset").exists()
    mtimes = {p: p.stat().st_mtime_ns for p in finished}

    calls["n"] = -100  # no more crashes; count the chunks generated on resume
    assert main(_args(source_dir, tiny_model_path, out)) == 0
    assert calls["n"] == -100 + 2  # only the two missing chunks were generated
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
    ds = load_dataset(str(out / "dataset"), split="train")
    assert sorted(ds["source_index"]) == list(range(10))  # complete, no duplicates


def test_two_shards_give_the_same_rows_as_one_process(source_dir, tiny_model_path, tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    main(_args(source_dir, tiny_model_path, single))
    assert main(_args(source_dir, tiny_model_path, sharded, "--num-shards", "2", "--shard-index", "1")) == 0
    assert not (sharded / "dataset").exists()  # shard 0 is still to do
    with pytest.raises(ValueError, match="not finished: chunks \\[0, 2\\]"):
        merge_chunks(sharded)
    assert main(_args(source_dir, tiny_model_path, sharded, "--num-shards", "2", "--shard-index", "0")) == 0
    a = load_dataset(str(single / "dataset"), split="train")
    b = load_dataset(str(sharded / "dataset"), split="train")
    assert a["source_index"] == b["source_index"] and a["label"] == b["label"] and a["noise_seed"] == b["noise_seed"]
    for x, y in zip(a["image"], b["image"]):
        assert np.abs(np.asarray(x, dtype=int) - np.asarray(y, dtype=int)).max() <= 2


def test_shards_follow_the_launcher_environment(source_dir, tiny_model_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    main(_args(source_dir, tiny_model_path, tmp_path / "job"))
    assert "shard 1/2: 2 chunks written" in capsys.readouterr().out


def test_a_resumed_job_must_keep_its_settings(source_dir, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "job"
    main(_args(source_dir, tiny_model_path, out, "--limit", "3"))
    assert main(_args(source_dir, tiny_model_path, out, "--limit", "3", "--seed", "5")) == 1
    assert "other settings (seed differ)" in capsys.readouterr().err


def test_generate_command_errors_are_clear(source_dir, tiny_model_path, tmp_path, capsys):
    assert main(_args(source_dir, tiny_model_path, tmp_path / "a", "--label-column", "kind")) == 1
    assert "no column 'kind'" in capsys.readouterr().err
    assert main(_args(source_dir, tiny_model_path, tmp_path / "b", "--strategy", "confusion_top_k:2")) == 1
    assert "needs a confusion matrix" in capsys.readouterr().err


def test_generate_reads_an_imagefolder(tiny_model_path, tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / "folder" / name).mkdir(parents=True)
        for i in range(2):
            from PIL import Image

            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "folder" / name / f"{i}.png")
    out = tmp_path / "job"
    assert main(_args(tmp_path / "folder", tiny_model_path, out)) == 0
    ds = load_dataset(str(out / "dataset"), split="train")
    assert ds.features["label"].names == ["cat", "dog"] and len(ds) == 4
    assert all(row["label"] != row["source_label"] for row in ds)


def test_estimate_prints_a_projection_and_writes_nothing(source_dir, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "job"
    assert main(_args(source_dir, tiny_model_path, out, "--estimate", "2")) == 0
    assert "h for the 10 source rows" in capsys.readouterr().out
    assert not out.exists()


def test_every_model_option_reaches_the_job_settings(source_dir, tiny_model_path, tiny_embedding_path, tmp_path):
    out = tmp_path / "job"
    assert main(_args(source_dir, tiny_model_path, out, "--preset", "fast", "--dtype", "bfloat16", "--timestep-spacing",
                      "trailing", "--textual-inversion", f"{tiny_embedding_path}:<kitten>", "--limit", "2")) == 0  # fmt: skip
    job = json.loads((out / "job.json").read_text())["generator"]
    assert job["dtype"] == "bfloat16" and job["timestep_spacing"] == "trailing" and job["num_inference_steps"] == 2
    assert job["adapters"][0]["kind"] == "textual_inversion" and job["adapters"][0]["token"] == "<kitten>"
    assert job["noise_scheme"] == "pcg64-v1" and job["model_revision"].startswith("sha256:")


def test_the_progress_bar_moves_with_every_batch(tiny_generator, tmp_path, capsys, make_dataset):
    from genie_transforms.datasets import genie_map, output_features
    from genie_transforms.jobs import run_chunks

    ds = make_dataset(6)
    calls = []
    fn = genie_map(tiny_generator, ["cat", "dog", "car", "boat"], noise_ratio=1.0, targets="random_k:1")

    def counted(batch, indices):
        calls.append(list(indices))
        return fn(batch, indices)

    stats = run_chunks(ds, counted, output_features(ds.features["label"]), tmp_path / "job", config={},
                       chunk_size=6, rows_per_call=2, progress=True)  # fmt: skip
    assert calls == [[0, 1], [2, 3], [4, 5]] and stats["rows_out"] == 6
    err = capsys.readouterr().err
    assert "6/6" in err and "shard 0/1" in err  # (tqdm shows the in-between updates as time allows)
