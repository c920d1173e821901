import re

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
    out = capsys.readouterr().out
    assert "built" in out and "name it with --source-dataset" in out and "name it with --model-name" in out
    for config, rows in (("genie", 8), ("genie_ada", 8), ("noise_table", 8)):
        assert len(load_dataset(str(repo), config, split="train")) == rows
    card = (repo / "README.md").read_text()
    assert "random_k:2" in card and "a photo of a {}." in card
    assert str(tmp_path) not in card and str(source_dir.name) not in card  # no local path reaches the card
    assert "a local dataset that the publisher did not name" in card and "sha256:" in card
    named = tmp_path / "named"
    options = ["--source-dataset", "my-org/photos", "--model-name", "my-org/tiny-sd"]
    assert main(["publish", "--genie", str(genie), "--ada", str(ada), "--output", str(named), *options]) == 0
    card = (named / "README.md").read_text()
    assert "source_datasets:\n- my-org/photos" in card and "from_pretrained('my-org/tiny-sd'" in card
    assert str(tmp_path) not in card and "https://" in card
    for link in re.findall(r"\]\((https?://[^)]+)\)", card):  # every link in the card is one that resolves
        assert link.startswith("https://arxiv.org/abs/2312.02548"), link
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=10, progress=False)
    again = regenerate_ada_images(gen, make_dataset(4), load_noise_table(repo))
    for a, b in zip(load_dataset(str(repo), "genie_ada", split="train")["image"], again.images):
        assert np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max() <= 2
    assert main(["publish", "--genie", str(ada), "--output", str(tmp_path / "x")]) == 2
    assert "holds a `genie ada` job, not `genie generate`" in capsys.readouterr().err
    assert main(["publish", "--output", str(tmp_path / "x")]) == 2
    card = (named / "README.md").read_text()  # a card from two jobs says how each config was made
    plain = card.replace("\\", "")
    assert "`genie ada` job: my-org/photos, split train, seed 0" in plain
    assert "`genie generate` job: my-org/photos, split train" in plain
    assert "num inference steps 10" in plain and "resolution the model default" in plain
    import shutil

    shutil.rmtree(ada / "noise_table")  # killed between the merge and the noise table
    assert main(["publish", "--ada", str(ada), "--output", str(tmp_path / "y")]) == 2
    assert "no noise table: the run stopped before writing it. Run the same `genie ada`" in capsys.readouterr().err
