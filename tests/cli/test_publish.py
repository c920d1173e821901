import numpy as np
import pytest
from datasets import load_dataset

from genie_transforms import GenieGenerator
from genie_transforms.cli import main

from ..helpers import build_dataset as make_dataset


@pytest.fixture
def source_dir(saved_source):
    return saved_source(4)


def test_publish_builds_a_repository_from_the_job_folders(source_dir, tiny_model_path, tmp_path, ada_args, capsys):
    from genie_transforms.hub import load_noise_table, regenerate_ada_images

    ada = tmp_path / "ada"
    assert main(ada_args(source_dir, tiny_model_path, ada, "--grid", "0.5", "0.7", "0.9")) == 0
    genie = tmp_path / "genie"
    assert (
        main(
            [
                "generate",
                "--dataset",
                str(source_dir),
                "--model",
                str(tiny_model_path),
                "--steps",
                "10",
                "--strategy",
                "random_k:2",
                "--output",
                str(genie),
                "--no-progress",
            ]
        )
        == 0
    )
    repo = tmp_path / "repo"
    assert main(["publish", "--genie", str(genie), "--ada", str(ada), "--output", str(repo)]) == 0
    assert "built" in capsys.readouterr().out
    for config, rows in (("genie", 8), ("genie_ada", 8), ("noise_table", 8)):
        assert len(load_dataset(str(repo), config, split="train")) == rows
    card = (repo / "README.md").read_text()
    assert str(source_dir) in card and "random_k:2" in card and "a photo of a {}." in card
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=10, progress=False)
    again = regenerate_ada_images(gen, make_dataset(4), load_noise_table(repo))
    for a, b in zip(load_dataset(str(repo), "genie_ada", split="train")["image"], again.images):
        assert np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max() <= 2
    assert main(["publish", "--genie", str(ada), "--output", str(tmp_path / "x")]) == 2
    assert "holds a `genie ada` job, not `genie generate`" in capsys.readouterr().err
    assert main(["publish", "--output", str(tmp_path / "x")]) == 2
