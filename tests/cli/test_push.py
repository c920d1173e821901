"""`genie push`: a dataset folder uploaded to the Hub (a local stand-in on 127.0.0.1), the token never shown."""

import logging

import huggingface_hub
import pytest

from genie_transforms.cli import main
from genie_transforms.datasets import generate_hard_negatives
from genie_transforms.hub import build_dataset_folder, folder_files

from ..helpers import TOKEN, build_dataset, card_info


@pytest.fixture(scope="module")
def folder(tiny_generator, tmp_path_factory):
    """A small dataset folder as `genie publish` builds it."""
    genie = generate_hard_negatives(build_dataset(2), tiny_generator, noise_ratio=0.75, targets="random_k:1", seed=0)
    return build_dataset_folder(
        tmp_path_factory.mktemp("repo") / "tiny-genie", {"genie": {"train": genie}}, card_info()
    )


@pytest.mark.parametrize("large", [False, True])
def test_upload_creates_the_repo_and_sends_every_file(folder, local_hub, monkeypatch, capsys, caplog, large):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with caplog.at_level(logging.DEBUG):
        assert main(["push", str(folder), "my-org/tiny-genie", *(["--large"] if large else [])]) == 0
    repo = local_hub.repo("dataset", "my-org/tiny-genie")
    sent = {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file() and ".cache" not in p.parts}
    assert sent == {path for path, _ in folder_files(folder)} and "README.md" in sent
    assert (repo / "README.md").read_bytes() == (folder / "README.md").read_bytes()
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err + caplog.text and "uploaded" in out.out


def test_dry_run_lists_files_and_uploads_nothing(folder, local_hub, capsys):
    assert main(["push", str(folder), "my-org/tiny-genie", "--dry-run"]) == 0
    assert local_hub.requests == []
    out = capsys.readouterr().out
    assert "README.md" in out and "would upload" in out


def test_a_push_without_network_ends_in_one_line(folder, monkeypatch, capsys):
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert main(["push", str(folder), "my-org/tiny-genie"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Could not upload" in err and TOKEN not in err
    assert main(["push", str(folder), "no-namespace", "--dry-run"]) == 2
