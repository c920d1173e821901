import json

import numpy as np
import pytest
from datasets import load_dataset

from genie_transforms.cli import main

from ..helpers import generate_args


@pytest.fixture
def source_dir(saved_source):
    return saved_source(10)


def test_generate_command_errors_are_clear(source_dir, tiny_model_path, tmp_path, capsys):
    assert main(generate_args(source_dir, tiny_model_path, tmp_path / "a", "--label-column", "kind")) == 1
    assert "no column 'kind'" in capsys.readouterr().err
    assert main(generate_args(source_dir, tiny_model_path, tmp_path / "b", "--strategy", "confusion_top_k:2")) == 1
    assert "needs a confusion matrix" in capsys.readouterr().err


def test_generate_reads_an_imagefolder(tiny_model_path, tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / "folder" / name).mkdir(parents=True)
        for i in range(2):
            from PIL import Image

            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                tmp_path / "folder" / name / f"{i}.png"
            )
    out = tmp_path / "job"
    assert main(generate_args(tmp_path / "folder", tiny_model_path, out)) == 0
    ds = load_dataset(str(out / "dataset"), split="train")
    assert ds.features["label"].names == ["cat", "dog"] and len(ds) == 4
    assert all(row["label"] != row["source_label"] for row in ds)


def test_estimate_prints_a_projection_and_writes_nothing(source_dir, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "job"
    assert main(generate_args(source_dir, tiny_model_path, out, "--estimate", "2")) == 0
    assert "h for the 10 source rows" in capsys.readouterr().out
    assert not out.exists()


def test_every_model_option_reaches_the_job_settings(source_dir, tiny_model_path, tiny_embedding_path, tmp_path):
    out = tmp_path / "job"
    assert (
        main(
            generate_args(
                source_dir,
                tiny_model_path,
                out,
                "--preset",
                "fast",
                "--dtype",
                "bfloat16",
                "--timestep-spacing",
                "trailing",
                "--textual-inversion",
                f"{tiny_embedding_path}:<kitten>",
                "--limit",
                "2",
            )
        )
        == 0
    )
    job = json.loads((out / "job.json").read_text())["generator"]
    assert job["dtype"] == "bfloat16" and job["timestep_spacing"] == "trailing" and job["num_inference_steps"] == 2
    assert job["adapters"][0]["kind"] == "textual_inversion" and job["adapters"][0]["token"] == "<kitten>"
    assert job["noise_scheme"] == "pcg64-v1" and job["model_revision"].startswith("sha256:")


def test_shards_follow_the_launcher_environment(source_dir, tiny_model_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    main(generate_args(source_dir, tiny_model_path, tmp_path / "job"))
    assert "shard 1/2: 2 chunks written" in capsys.readouterr().out
