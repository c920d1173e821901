import json
import logging

import httpx2
import numpy as np
import huggingface_hub
import pytest
import yaml
from datasets import ClassLabel, load_dataset
from datasets import Image as ImageFeature

from genie_transforms import __version__
from genie_transforms.ada import GenieAda, class_prototypes
from genie_transforms.cli import main
from genie_transforms.datasets import generate_hard_negatives, genie_ada_map, noise_table, output_features
from genie_transforms.embedders import Embedder
from genie_transforms.hub import CardInfo, build_dataset_folder, check_repo_id, load_config, load_noise_table, push_folder

from .test_ada import pooled
from .test_datasets import NAMES, make_dataset

TOKEN = "hf_not_a_real_token_123"


@pytest.fixture(scope="module")
def splits(tiny_generator):
    source = make_dataset(4)
    genie = generate_hard_negatives(source, tiny_generator, noise_ratio=0.75, targets="random_k:1", seed=0)
    embedder = Embedder(pooled, name="pooled")
    ada = GenieAda(tiny_generator, embedder, grid=(0.5, 0.75, 1.0))
    protos = class_prototypes(embedder, source["image"], source["label"])
    fn = genie_ada_map(ada, NAMES, protos, targets="random_k:1", seed=0)
    ada_rows = source.map(fn, batched=True, with_indices=True, remove_columns=source.column_names,
                          features=output_features(source.features["label"], ada=True))  # fmt: skip
    return {"genie": {"train": genie}, "genie_ada": {"train": ada_rows}, "noise_table": {"train": noise_table(ada_rows)}}


@pytest.fixture(scope="module")
def folder(splits, tmp_path_factory, tiny_generator):
    info = CardInfo(model_id=tiny_generator.model_id, model_revision="abc123", seed=0, noise_ratios=[0.75],
                    strategy="random_k:1", source_dataset="local/tiny", command="genie generate ...",
                    pretty_name="Tiny GeNIe", embedder="pooled")  # fmt: skip
    return build_dataset_folder(tmp_path_factory.mktemp("repo") / "tiny-genie", splits, info)


def test_folder_loads_back_offline_with_every_config(folder, splits):
    for config, by_split in splits.items():
        loaded = load_dataset(str(folder), config, split="train")
        original = by_split["train"]
        assert loaded.features == original.features and len(loaded) == len(original)
        assert loaded["source_index"] == original["source_index"]
    genie = load_dataset(str(folder), "genie", split="train")
    assert isinstance(genie.features["label"], ClassLabel) and isinstance(genie.features["image"], ImageFeature)
    assert genie.features["label"].names == NAMES
    table = load_noise_table(folder)
    assert "r_star" in table.column_names and "image" not in table.column_names


def test_card_yaml_names_model_revision_seed_and_version(folder):
    text = (folder / "README.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert {c["config_name"] for c in meta["configs"]} == {"genie", "genie_ada", "noise_table"}
    assert meta["source_datasets"] == ["local/tiny"] and "hard-negatives" in meta["tags"]
    assert {i["config_name"] for i in meta["dataset_info"]} == {"genie", "genie_ada", "noise_table"}
    assert "abc123" in text and "Seed: 0" in text and __version__ in text and "Caveats" in text


@pytest.fixture
def hub_mock(monkeypatch):
    """The real huggingface_hub client over a mocked HTTP transport: records every request, answers like the Hub."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    requests = []

    def handler(request):
        url = str(request.url)
        requests.append({"method": request.method, "url": url, "auth": request.headers.get("authorization"),
                         "body": request.content})  # fmt: skip
        if url.endswith("/api/repos/create"):
            body = json.loads(request.content)
            return httpx2.Response(200, json={"url": f"https://huggingface.co/datasets/{body['organization']}/"
                                              f"{body['name']}", "name": body["name"]})  # fmt: skip
        if url.endswith("/api/validate-yaml"):
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if "/preupload/" in url:
            files = json.loads(request.content)["files"]
            return httpx2.Response(200, json={"files": [{"path": f["path"], "uploadMode": "regular",
                                                         "shouldIgnore": False} for f in files]})  # fmt: skip
        if "/commit/" in url:
            return httpx2.Response(200, json={"commitUrl": "https://huggingface.co/datasets/x/y/commit/1",
                                              "commitOid": "1" * 40, "pullRequestUrl": None})  # fmt: skip
        return httpx2.Response(404, json={"error": "not mocked"})

    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(handler)))
    yield requests
    huggingface_hub.set_client_factory(lambda: httpx2.Client())


def test_upload_creates_the_repo_and_commits_every_file(folder, hub_mock, monkeypatch, capsys, caplog):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with caplog.at_level(logging.DEBUG):
        assert main(["push", str(folder), "my-org/tiny-genie", "--private"]) == 0
    create = next(r for r in hub_mock if r["url"].endswith("/api/repos/create"))
    body = json.loads(create["body"])
    assert body["name"] == "tiny-genie" and body["organization"] == "my-org" and body["type"] == "dataset"
    assert (body.get("private") is True or body.get("visibility") == "private") and create["auth"] == f"Bearer {TOKEN}"
    commit = next(r for r in hub_mock if "/commit/" in r["url"])
    assert "/api/datasets/my-org/tiny-genie/commit/main" in commit["url"]
    lines = [json.loads(line) for line in commit["body"].decode().splitlines()]
    committed = {line["value"]["path"] for line in lines if line["key"] == "file"}
    local = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert committed == local and "README.md" in committed and any(p.startswith("data/genie/") for p in committed)
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err + caplog.text


def test_dry_run_lists_files_and_uploads_nothing(folder, hub_mock, capsys):
    assert main(["push", str(folder), "my-org/tiny-genie", "--dry-run"]) == 0
    assert hub_mock == []
    out = capsys.readouterr().out
    assert "README.md" in out and "would upload" in out


def test_clear_errors(folder, splits, tmp_path, capsys):
    with pytest.raises(ValueError, match="not of the form 'namespace/name'"):
        check_repo_id("tiny-genie")
    assert main(["push", str(folder), "no-namespace", "--dry-run"]) == 2
    assert "namespace/name" in capsys.readouterr().err
    info = CardInfo(model_id="m", model_revision=None, seed=0, noise_ratios=[0.8], strategy="s", source_dataset="d")
    empty = splits["genie"]["train"].select([])
    with pytest.raises(ValueError, match="'genie', split 'train' is empty"):
        build_dataset_folder(tmp_path / "empty", {"genie": {"train": empty}}, info)
    with pytest.raises(ValueError, match="has no config 'genie_xl'"):
        load_config(folder, "genie_xl")


def test_noise_table_from_a_published_folder_regenerates_the_ada_images(folder, tiny_generator):
    from genie_transforms.hub import regenerate_ada_images

    table = load_noise_table(folder)
    published = load_dataset(str(folder), "genie_ada", split="train")
    out = regenerate_ada_images(tiny_generator, make_dataset(4), table)
    for a, b in zip(published["image"], out.images):
        assert np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max() <= 2
    with pytest.raises(ValueError, match="same split"):
        regenerate_ada_images(tiny_generator, make_dataset(1), table)
