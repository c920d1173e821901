import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from datasets import ClassLabel, Dataset, load_dataset
from datasets import Image as ImageFeature

from genie_transforms import GenieGenerator, __version__
from genie_transforms.ada import GenieAda, class_prototypes, source_hash, table_settings
from genie_transforms.datasets import generate_hard_negatives, genie_ada_map, noise_table, output_features
from genie_transforms.embedders import Embedder
from genie_transforms.hub import (
    build_dataset_folder,
    check_name,
    check_repo_id,
    folder_files,
    load_config,
    load_noise_table,
    regenerate_ada_images,
)

from .helpers import card_info, pooled, save_image_folder

NAMES = ["cat", "dog", "car", "boat"]
GRID = (0.5, 0.6, 0.7, 0.8, 0.9)


@pytest.fixture(scope="module")
def source(make_dataset):
    return make_dataset(4)


@pytest.fixture(scope="module")
def splits(tiny_generator, source):
    genie = generate_hard_negatives(source, tiny_generator, noise_ratio=0.75, targets="random_k:1", seed=0)
    embedder = Embedder(pooled, name="pooled")
    ada = GenieAda(tiny_generator, embedder, grid=(0.5, 0.75, 1.0))
    protos = class_prototypes(embedder, source["image"], source["label"])
    fn = genie_ada_map(ada, NAMES, protos, targets="random_k:1", seed=0)
    ada_rows = source.map(
        fn,
        batched=True,
        with_indices=True,
        remove_columns=source.column_names,
        features=output_features(source.features["label"], ada=True),
    )
    return {
        "genie": {"train": genie},
        "genie_ada": {"train": ada_rows},
        "noise_table": {"train": noise_table(ada_rows)},
    }


@pytest.fixture(scope="module")
def folder(splits, tmp_path_factory):
    return build_dataset_folder(tmp_path_factory.mktemp("repo") / "tiny-genie", splits, card_info())


def _pixels(image):
    return np.asarray(image, dtype=int)


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
    assert "r_star" in table.column_names and "image" not in table.column_names and "prompt" in table.column_names


def test_the_card_is_complete_and_loads_without_warnings(folder, caplog):
    text = (folder / "README.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert {c["config_name"] for c in meta["configs"]} == {"genie", "genie_ada", "noise_table"}
    assert meta["source_datasets"] == ["local/tiny"] and "hard-negatives" in meta["tags"]
    for info in meta["dataset_info"]:
        (split,) = info["splits"]
        assert split["num_bytes"] > 0 and split["num_examples"] > 0 and info["download_size"] > 0
    assert "abc123" in text and "Seed: 0" in text and __version__ in text and "Caveats" in text
    assert "@inproceedings{koohpayegani" in text and "regenerate_ada_images" in text and "## Credits" in text
    with caplog.at_level(logging.WARNING):
        load_dataset(str(folder), "genie", split="train")
    assert "Ignoring part of dataset_info" not in caplog.text


def test_the_bundled_models_card_credits_the_digits(splits, tmp_path):
    built = build_dataset_folder(tmp_path / "d", {"genie": splits["genie"]}, card_info(model_id="genie-tiny-digits"))
    assert "UCI Machine Learning Repository" in (built / "README.md").read_text()


def test_an_image_folder_source_is_embedded_and_survives_the_folder(tiny_generator, tmp_path):
    save_image_folder(tmp_path / "src")
    source = load_dataset("imagefolder", data_dir=str(tmp_path / "src"), split="train", cache_dir=str(tmp_path / "c"))
    rows = generate_hard_negatives(source, tiny_generator, noise_ratio=1.0, keep_original=True)
    built = build_dataset_folder(tmp_path / "repo", {"genie": {"train": rows}}, card_info())
    shutil.rmtree(tmp_path / "src")
    shutil.rmtree(tmp_path / "c")
    loaded = load_dataset(str(built), "genie", split="train", cache_dir=str(tmp_path / "c2"))
    originals = [row["image"] for row in loaded if not row["is_generated"]]
    assert len(originals) == 4 and all(im.size == (32, 32) for im in originals)


@pytest.mark.parametrize(
    "configs, match",
    [
        ({"../../escape": "x"}, "Config name '../../escape' is not allowed"),
        ({"/abs/path": "x"}, "is not allowed"),
        ({"": "x"}, "Config name '' is not allowed"),
        ({"genie": "a..b"}, "Split name 'a..b' is not allowed"),
        ({"genie": "../train"}, "Split name '../train' is not allowed"),
    ],
)
def test_unsafe_names_are_refused_and_nothing_is_written(splits, tmp_path, configs, match):
    ((config, split),) = configs.items()
    with pytest.raises(ValueError, match=match):
        build_dataset_folder(tmp_path / "a" / "b" / "repo", {config: {split: splits["genie"]["train"]}}, card_info())
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_names_repo_ids_links_and_card_text_are_safe(folder, splits, tmp_path):
    assert check_name("genie_ada", "config") == "genie_ada" and check_name("train", "split") == "train"
    for bad in ("tiny-genie", "org/na me", "org/../x", "a/b/c"):
        with pytest.raises(ValueError, match="Repository id"):
            check_repo_id(bad)
    fenced = build_dataset_folder(
        tmp_path / "f",
        {"genie": splits["genie"]},
        card_info(command="echo '```\n# injected'", pretty_name="x <b>bold</b>"),
    )
    text = (fenced / "README.md").read_text()
    prose = text.split("---", 2)[2]
    assert "````bash\necho '```\n# injected'\n````" in prose and "<b>" not in prose
    linked = tmp_path / "linked"
    shutil.copytree(folder, linked)
    (linked / "secret").symlink_to("/etc/hostname")
    with pytest.raises(ValueError, match="symbolic link"):
        folder_files(linked)
    with pytest.raises(ValueError, match="'genie', split 'train' is empty"):
        build_dataset_folder(tmp_path / "empty", {"genie": {"train": splits["genie"]["train"].select([])}}, card_info())
    with pytest.raises(ValueError, match="has no config 'genie_xl'"):
        load_config(folder, "genie_xl")


@pytest.mark.parametrize("steps", [10, 20, 25, 50])
def test_a_noise_table_read_back_from_parquet_regenerates_every_grid_value(tiny_model_path, source, tmp_path, steps):
    """The most important promise of a published noise table: its rows, loaded back from disk, give the same images,
    for every grid value (ratios stored as float64; the step rule is immune to float32 rounding too)."""
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=steps, progress=False)
    sweep = gen.generate(
        [source[0]["image"]] * len(GRID), 2, list(GRID), seed=3, prompts=NAMES, source_ids=["0"] * len(GRID)
    )
    features = output_features(source.features["label"], ada=True)
    rows = {name: [] for name in features}
    for r, image, rec in zip(GRID, sweep.images, sweep.records):
        values = {
            "image": image,
            "label": 2,
            "source_label": 0,
            "source_index": 0,
            "noise_ratio": r,
            "prompt": rec.prompt,
            "prompt_template": rec.prompt_template,
            "seed": 3,
            "noise_seed": rec.noise_seed,
            "noise_scheme": rec.noise_scheme,
            "model_id": rec.model_id,
            "model_revision": rec.model_revision,
            "model_variant": None,
            "adapters": "[]",
            "r_star": r,
            "grid": list(GRID),
            "projections": [0.0] * 5,
            "jumps": [0.0] * 4,
            "mode": "exact",
            "cheap_steps": None,
            "embedder": "test",
            "source_sha256": source_hash(source[0]["image"]),
            **table_settings(gen),
        }
        for name in features:
            rows[name].append(values[name])
    ada_rows = Dataset.from_dict(rows, features=features)
    built = build_dataset_folder(
        tmp_path / "repo",
        {"genie_ada": {"train": ada_rows}, "noise_table": {"train": noise_table(ada_rows)}},
        card_info(),
    )
    table = load_dataset(str(built), "noise_table", split="train")
    assert table["r_star"] == list(GRID)  # exact, not 0.699999988
    again = regenerate_ada_images(gen, source, table)
    published = load_dataset(str(built), "genie_ada", split="train")["image"]
    for r, a, b, rec in zip(GRID, published, again.images, again.records):
        assert rec.steps_run == int(round(steps * r, 9))
        assert np.abs(_pixels(a) - _pixels(b)).max() <= 2, f"r = {r} at {steps} steps"
    legacy = table.map(lambda row: {"r_star": float(np.float32(row["r_star"]))})  # as a float32 table stored it
    for a, b in zip(regenerate_ada_images(gen, source, legacy).images, again.images):
        assert np.abs(_pixels(a) - _pixels(b)).max() <= 2


def test_a_noise_table_regenerates_with_its_own_settings_and_source_or_refuses(
    tiny_model_path, splits, source, tmp_path
):
    """The silent failures first: a table made at 4 steps regenerated by a generator at 50 steps (up to 159 levels
    off), and a table regenerated from another split; then an off-grid r* and another dtype."""
    splits["noise_table"]["train"].to_parquet(str(tmp_path / "table.parquet"))
    table = load_dataset("parquet", data_files=str(tmp_path / "table.parquet"), split="train")  # read back
    assert set(table["num_inference_steps"]) == {4} and set(table["model_family"]) == {"sd"}
    published = splits["genie_ada"]["train"]["image"]
    gen = GenieGenerator.from_pretrained(tiny_model_path, progress=False)  # 50 steps by default
    again = regenerate_ada_images(gen, source, table)
    assert {rec.num_inference_steps for rec in again.records} == {4}
    for a, b in zip(published, again.images):
        assert np.abs(_pixels(a) - _pixels(b)).max() <= 2
    other = source.select([1, 0, 3, 2])  # another split: the same size, other images per row
    with pytest.raises(ValueError, match="made from other source images than the ones given"):
        regenerate_ada_images(gen, other, table)
    off = table.map(lambda row: {"r_star": 0.55})
    with pytest.raises(ValueError, match=r"r_star=0.55 is not on its grid"):
        regenerate_ada_images(gen, source, off)
    half = GenieGenerator.from_pretrained(tiny_model_path, dtype="bfloat16", progress=False)
    with pytest.raises(ValueError, match="made with dtype='float32', this generator has 'bfloat16'"):
        regenerate_ada_images(half, source, table)


def test_the_cards_snippets_are_valid_python_whatever_the_names(splits, tmp_path):
    import ast

    info = card_info(model_id='org/m"); import os; os.system("x', source_dataset="org/d'x")
    info.source_split = "test"
    info.settings = {"num_inference_steps": 10, "resolution": None}
    text = (build_dataset_folder(tmp_path / "repo", splits, info) / "README.md").read_text()
    blocks = text.split("```python\n")[1:]
    assert len(blocks) == 2
    for block in blocks:
        ast.parse(block.split("\n```")[0])  # valid Python: the names are string literals, nothing runs
    snippet = blocks[1].split("\n```")[0]
    assert "split='test'" in snippet and "os.system" not in snippet.replace(repr(info.model_id), "")
    assert "num inference steps `10`" in text and "resolution `the model default`" in text


@pytest.mark.slow
def test_the_real_download_path_by_hub_id(folder, local_hub, tiny_model_path, tmp_path):
    """`load_dataset("org/name", ...)`, `load_noise_table("org/name")` and `regenerate_ada_images`, run in a fresh
    process whose HF_ENDPOINT points at the test Hub (the way users meet a published dataset)."""
    local_hub.add("dataset", "my-org/tiny-genie", folder)
    script = f"""
import json, numpy as np
from datasets import load_dataset
from genie_transforms import GenieGenerator
from genie_transforms.hub import load_noise_table, regenerate_ada_images
from tests.helpers import build_dataset

genie = load_dataset("my-org/tiny-genie", "genie", split="train")
ada = load_dataset("my-org/tiny-genie", "genie_ada", split="train")
table = load_noise_table("my-org/tiny-genie")
gen = GenieGenerator.from_pretrained({str(tiny_model_path)!r}, num_inference_steps=4, progress=False)
out = regenerate_ada_images(gen, build_dataset(4), table)
diff = max(int(np.abs(np.asarray(a, int) - np.asarray(b, int)).max()) for a, b in zip(ada["image"], out.images))
print(json.dumps({{"genie": len(genie), "names": genie.features["label"].names, "table": len(table), "diff": diff}}))
"""
    env = {
        **os.environ,
        "HF_ENDPOINT": local_hub.endpoint,
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.getcwd(),
    }
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["genie"] == 4 and figures["names"] == NAMES and figures["table"] == 4 and figures["diff"] <= 2
    assert any(path.endswith("/data/noise_table/train-00000-of-00001.parquet") for _, path in local_hub.requests)


def test_a_republish_replaces_the_folder_whole_and_a_killed_one_leaves_the_last(splits, tmp_path, monkeypatch):
    """A config that is no longer published disappears; a publish killed midway leaves the previous folder intact
    (its card agrees with its files) and nothing hidden after the next publish."""
    folder = build_dataset_folder(tmp_path / "repo", splits, card_info())
    assert load_config(folder, "genie_ada").num_rows == len(splits["genie_ada"]["train"])
    build_dataset_folder(folder, {"genie": splits["genie"]}, card_info())
    assert sorted(p.name for p in (folder / "data").iterdir()) == ["genie"]
    assert "genie_ada" not in (folder / "README.md").read_text()

    import genie_transforms.hub as hub

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hub, "write_parquet", killed)
    with pytest.raises(KeyboardInterrupt):
        build_dataset_folder(folder, splits, card_info())
    monkeypatch.undo()
    assert load_dataset(str(folder), "genie", split="train").num_rows == len(splits["genie"]["train"])
    build_dataset_folder(folder, splits, card_info())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds files a publish did not write"):
        build_dataset_folder(folder, splits, card_info())
