import json

import pytest
from datasets import load_dataset

from genie_transforms.cli import main

from ..helpers import generate_args, save_image_folder


@pytest.fixture
def source_dir(saved_source):
    return saved_source(10)


def test_generate_command_errors_are_clear(source_dir, tiny_model_path, tmp_path, capsys):
    assert main(generate_args(source_dir, tiny_model_path, tmp_path / "a", "--label-column", "kind")) == 1
    assert "no column 'kind'" in capsys.readouterr().err
    assert main(generate_args(source_dir, tiny_model_path, tmp_path / "b", "--strategy", "confusion_top_k:2")) == 1
    assert "needs a confusion matrix" in capsys.readouterr().err


def test_generate_reads_an_imagefolder(tiny_model_path, tmp_path):
    save_image_folder(tmp_path / "folder")
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


def test_a_resume_accepts_the_same_data_and_model_however_their_paths_are_spelled(
    saved_source, tiny_model_path, tmp_path, monkeypatch, capsys
):
    """Shard 0 runs with relative paths; shard 1 from another directory with an absolute dataset path and another
    relative model path: the same job (fingerprint and content hash), so it finishes and merges. Other data or
    another model under the very same spelling is still refused."""
    import shutil

    shutil.copytree(saved_source(10), tmp_path / "photos")
    shutil.copytree(tiny_model_path, tmp_path / "models" / "tiny")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    first = generate_args("photos", "models/tiny", "job", "--num-shards", "2", "--shard-index", "0")
    assert main(first) == 0 and "2 chunks written" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path / "elsewhere")
    second = generate_args(tmp_path / "photos", "../models/tiny", "../job", "--num-shards", "2", "--shard-index", "1")
    assert main(second) == 0
    out = capsys.readouterr().out
    assert "2 chunks written" in out and "merged into" in out
    assert len(load_dataset(str(tmp_path / "job" / "dataset"), split="train")) == 10
    # the same spellings, other contents: refused, naming what differs
    monkeypatch.chdir(tmp_path)
    shutil.rmtree("photos")
    shutil.copytree(saved_source(9), "photos")
    assert main(generate_args("photos", "models/tiny", "job")) == 1
    assert "source.fingerprint" in capsys.readouterr().err
    shutil.rmtree("photos")
    shutil.copytree(saved_source(10), "photos")
    config = tmp_path / "models" / "tiny" / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "beta_end": 0.02}))
    assert main(generate_args("photos", "models/tiny", "job")) == 1
    assert "generator.model_revision" in capsys.readouterr().err


def test_errors_a_newcomer_meets_name_the_file_the_flag_and_the_fix(tiny_model_path, tmp_path, capsys):
    """A truncated JPEG in an imagefolder is named by its file, with the command line's own flag; the bundled digits
    model on other data is refused with the fix for the flag that was given (generate has no --embedder)."""
    save_image_folder(tmp_path / "photos", suffix="jpg")
    broken = tmp_path / "photos" / "dog" / "1.jpg"
    broken.write_bytes(broken.read_bytes()[:200])  # truncated
    assert main(generate_args(tmp_path / "photos", tiny_model_path, tmp_path / "job")) == 1
    err = capsys.readouterr().err
    assert "1.jpg" in err and "cannot be decoded" in err and "--errors skip" in err
    assert len(err.strip().splitlines()) == 1
    assert main(generate_args(tmp_path / "photos", tiny_model_path, tmp_path / "job2", "--errors", "skip")) == 0
    capsys.readouterr()
    assert main(generate_args(tmp_path / "photos", "genie-tiny-digits", tmp_path / "job3")) == 2
    err = capsys.readouterr().err
    assert "--model with a Stable Diffusion id or folder" in err and "--embedder" not in err


@pytest.mark.parametrize("family", ["sdxl", "sd3"])
def test_generate_takes_a_model_of_any_family(family, source_dir, tmp_path, capsys):
    from genie_transforms.testing import save_tiny_pipeline

    model = save_tiny_pipeline(tmp_path / family, family=family)
    assert main(generate_args(source_dir, model, tmp_path / "job", "--limit", "3")) == 0
    ds = load_dataset(str(tmp_path / "job" / "dataset"), split="train")
    assert len(ds) == 3 and all(row["label"] != row["source_label"] for row in ds)
    job = json.loads((tmp_path / "job" / "job.json").read_text())
    expected = "dpmsolver++" if family == "sdxl" else "pipeline"  # the family's default scheduler
    assert job["generator"]["scheduler"] == expected and job["generator"]["num_inference_steps"] == 2
