import numpy as np
import pytest
from datasets import load_dataset
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.ada import generate_from_table
from genie_transforms.cli import main

from ..helpers import NAMES
from ..helpers import build_dataset as make_dataset


@pytest.fixture
def source_dir(saved_source):
    return saved_source(4)


def test_ada_command_writes_images_noise_table_and_curves(source_dir, tiny_model_path, tmp_path, capsys, ada_args):
    out = tmp_path / "ada"
    assert main(ada_args(source_dir, tiny_model_path, out)) == 0
    images = load_dataset(str(out / "dataset"), split="train")
    table = load_dataset(str(out / "noise_table"), split="train")
    assert len(images) == len(table) == 4 * 2
    assert set(table.column_names) >= {
        "source_index",
        "source_label",
        "target",
        "r_star",
        "grid",
        "projections",
        "jumps",
        "embedder",
        "model_id",
        "model_revision",
        "seed",
        "noise_seed",
    }
    row = table[0]
    assert row["embedder"] == "resnet18:resnet18-10-classes.safetensors" and len(row["projections"]) == 5
    assert row["r_star"] == pytest.approx(row["grid"][int(np.argmax(row["jumps"])) + 1])
    assert images.features["label"].names == NAMES and images["noise_ratio"] == table["r_star"]
    curves = Image.open(out / "curves.png")
    assert curves.width > 300 and np.asarray(curves.convert("L")).std() > 10
    assert "r* over 8 pairs" in capsys.readouterr().out

    # the table regenerates the Ada images without the sweep or the embedder
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=10, progress=False)
    source = make_dataset(4)
    again = generate_from_table(gen, [source[i]["image"] for i in table["source_index"]], table, NAMES)
    for a, b in zip(images["image"], again.images):
        assert np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max() <= 2


def test_ada_command_errors(source_dir, tiny_model_path, tmp_path, capsys, ada_args):
    assert main(ada_args(source_dir, tiny_model_path, tmp_path / "a", "--grid", "0.5")) == 1
    assert "at least two" in capsys.readouterr().err
    args = ada_args(source_dir, tiny_model_path, tmp_path / "b")
    assert main(args[: args.index("--embedder-weights")]) == 1
    assert "needs --embedder-weights" in capsys.readouterr().err
    assert main(ada_args(source_dir, tiny_model_path, tmp_path / "c", "--embedder", "genie-tiny-digits")) == 2
    assert "draws the digits zero to nine and nothing else" in capsys.readouterr().err


def test_limit_keeps_prototypes_for_every_class(source_dir, tiny_model_path, tmp_path, ada_args):
    """--limit 2 leaves only classes 0 and 1 as sources, but targets 2 and 3 still have prototypes (whole split)."""
    out = tmp_path / "ada"
    assert main(ada_args(source_dir, tiny_model_path, out, "--limit", "2", "--grid", "0.5", "1.0")) == 0
    table = load_dataset(str(out / "noise_table"), split="train")
    assert sorted(set(table["source_index"])) == [0, 1] and set(table["target"]) - {0, 1}


def test_the_filter_runs_in_both_commands_and_is_recorded_per_row(
    source_dir, tiny_model_path, tmp_path, ada_args, classifier_weights, capsys
):
    ada = tmp_path / "ada"
    assert (
        main(ada_args(source_dir, tiny_model_path, ada, "--grid", "0.5", "0.9", "--filter", "--filter-margin", "-0.1"))
        == 0
    )
    rows = load_dataset(str(ada / "dataset"), split="train")
    table = load_dataset(str(ada / "noise_table"), split="train")
    assert rows.features["filter_kept"].dtype == "bool" and table["filter_score"] == rows["filter_score"]
    assert [s > -0.1 for s in rows["filter_score"]] == rows["filter_kept"]
    genie = tmp_path / "genie"
    common = [
        "generate",
        "--dataset",
        str(source_dir),
        "--model",
        str(tiny_model_path),
        "--steps",
        "10",
        "--strategy",
        "random_k:2",
        "--no-progress",
    ]
    assert (
        main(
            [
                *common,
                "--output",
                str(genie),
                "--filter-embedder",
                "torchvision:resnet18",
                "--filter-embedder-weights",
                str(classifier_weights),
            ]
        )
        == 0
    )
    rows = load_dataset(str(genie / "dataset"), split="train")
    assert len(rows) == 8 and [s > 0 for s in rows["filter_score"]] == rows["filter_kept"]
    assert main([*common, "--output", str(tmp_path / "x"), "--filter-margin", "0.2"]) == 2
    assert "turn the filter on too" in capsys.readouterr().err


def test_retrained_embedder_weights_under_the_same_name_are_another_job(
    source_dir, tiny_model_path, tmp_path, capsys, ada_args, classifier_weights
):
    """The embedder is known by its weights, not its file name: a resume with retrained weights under the same file
    name is refused, naming the embedder's identity, and the identity changes the job's fingerprint."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    weights = tmp_path / "weights" / classifier_weights.name
    weights.parent.mkdir()
    shutil.copy(classifier_weights, weights)
    out = tmp_path / "ada"
    args = ada_args(source_dir, tiny_model_path, out, "--limit", "2", "--grid", "0.5", "1.0")
    args[args.index("--embedder-weights") + 1] = str(weights)
    assert main(args) == 0
    state = load_file(str(weights))
    save_file({k: (v * 1.01 if v.is_floating_point() else v).contiguous() for k, v in state.items()}, str(weights))
    capsys.readouterr()
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "embedder_identity" in err and "weights:sha256:" in err
    assert torch.equal(load_file(str(weights))["fc.bias"], state["fc.bias"] * 1.01)
