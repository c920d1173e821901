import io
import logging

import numpy as np
import pytest
from datasets import Dataset, Value, load_dataset
from datasets import Image as ImageFeature
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.datasets import generate_hard_negatives, genie_map, output_features

from .helpers import NAMES
from .helpers import build_dataset as make_dataset


def rows_of(ds):
    """Comparable provenance of every row."""
    return [(r["label"], r["source_label"], r["source_index"], round(r["noise_ratio"], 4), r["noise_seed"]) for r in ds]


def assert_same_rows(a, b):
    """Same rows in the same order; pixels equal up to float rounding (CPU kernels vary with the batch size)."""
    assert rows_of(a) == rows_of(b)
    for x, y in zip(a["image"], b["image"]):
        assert np.abs(np.asarray(x, dtype=int) - np.asarray(y, dtype=int)).max() <= 2


def test_schema_labels_and_provenance(tiny_generator):
    ds = make_dataset(4)
    out = generate_hard_negatives(ds, tiny_generator, noise_ratio=[0.5, 1.0], targets="random_k:2", seed=0)
    assert out.features == output_features(ds.features["label"])
    assert len(out) == 4 * 2 * 2
    for row in out:
        assert row["label"] != row["source_label"]
        assert row["source_label"] == ds[row["source_index"]]["label"]
        assert row["prompt"] == f"a photo of a {NAMES[row['label']]}."
        assert row["model_id"] == tiny_generator.model_id and row["seed"] == 0
        assert isinstance(row["image"], Image.Image) and row["image"].size == (32, 32)
    assert out.features["label"].names == NAMES


def test_keep_original_rows_are_flagged(tiny_generator):
    ds = make_dataset(3)
    out = generate_hard_negatives(ds, tiny_generator, noise_ratio=1.0, targets="random_k:1", keep_original=True)
    flags = out["is_generated"]
    assert flags.count(False) == 3 and flags.count(True) == 3
    originals = out.filter(lambda r: not r["is_generated"])
    assert originals["label"] == ds["label"] and originals["noise_ratio"] == [None] * 3


def test_all_others_pairing_gives_n_minus_1_per_source(tiny_generator):
    out = generate_hard_negatives(make_dataset(2), tiny_generator, noise_ratio=1.0)
    assert out["label"] == [1, 2, 3, 0, 2, 3] and out["source_index"] == [0, 0, 0, 1, 1, 1]


@pytest.mark.slow
def test_same_rows_for_any_batch_size_and_number_of_workers(tiny_model_path):
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=2, progress=False)
    ds = make_dataset(5)
    kwargs = {"noise_ratio": 1.0, "targets": "random_k:1", "seed": 1}
    one = generate_hard_negatives(ds, gen, batch_size=1, **kwargs)
    assert_same_rows(generate_hard_negatives(ds, gen, batch_size=7, **kwargs), one)
    assert_same_rows(generate_hard_negatives(ds, gen, batch_size=2, num_proc=2, **kwargs), one)


def test_cache_is_reused_for_identical_settings_only(tiny_model_path, tmp_path, monkeypatch):
    make_dataset(3).to_parquet(str(tmp_path / "src.parquet"))
    ds = load_dataset("parquet", data_files=str(tmp_path / "src.parquet"), split="train", cache_dir=str(tmp_path / "c"))
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=2, progress=False)
    calls = []
    real = gen.generate
    monkeypatch.setattr(gen, "generate", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = generate_hard_negatives(ds, gen, noise_ratio=1.0, targets="random_k:1", seed=0)
    n = len(calls)
    assert n > 0
    again = generate_hard_negatives(ds, gen, noise_ratio=1.0, targets="random_k:1", seed=0)
    assert len(calls) == n and again.cache_files == first.cache_files
    assert_same_rows(again, first)
    generate_hard_negatives(ds, gen, noise_ratio=0.5, targets="random_k:1", seed=0)
    assert len(calls) > n
    m = len(calls)
    generate_hard_negatives(ds, gen, noise_ratio=1.0, targets="random_k:1", seed=1)
    assert len(calls) > m


def test_map_companion_works_with_plain_map(tiny_generator):
    ds = make_dataset(3)
    fn = genie_map(tiny_generator, NAMES, noise_ratio=1.0, targets="random_k:1", seed=0)
    out = ds.map(fn, batched=True, with_indices=True, remove_columns=ds.column_names, batch_size=2)
    assert len(out) == 3 and out["source_index"] == [0, 1, 2]
    assert fn.config["targets"] == {"name": "random_k", "k": 1} and fn.config["noise_ratio"] == [1.0]


def test_bad_datasets_get_clear_errors(tiny_generator):
    ds = make_dataset(2)
    with pytest.raises(ValueError, match="no column 'img'"):
        generate_hard_negatives(ds, tiny_generator, image_column="img")
    plain = ds.cast_column("label", Value("int64"))
    with pytest.raises(ValueError, match="not a ClassLabel.*PromptMap"):
        generate_hard_negatives(plain, tiny_generator)
    out = generate_hard_negatives(plain, tiny_generator, prompts=NAMES, noise_ratio=1.0, targets="random_k:1")
    assert out.features["label"].names == NAMES
    with pytest.raises(KeyError, match="Unknown class label 7"):
        generate_hard_negatives(plain.map(lambda r: {"label": 7}), tiny_generator, prompts=NAMES, noise_ratio=1.0)
    with pytest.raises(ValueError, match="empty"):
        generate_hard_negatives(ds.select([]), tiny_generator)
    with pytest.raises(TypeError, match="pick a split"):
        generate_hard_negatives({"train": ds}, tiny_generator)


def _with_corrupt_row():
    ds = make_dataset(3).cast_column("image", ImageFeature(decode=False))
    rows = ds.to_dict()
    rows["image"][1] = {"bytes": b"not an image at all", "path": None}
    return Dataset.from_dict(rows, features=ds.features).cast_column("image", ImageFeature())


def test_corrupt_images_raise_by_default_and_are_skipped_and_logged_on_request(tiny_generator, caplog):
    ds = _with_corrupt_row()
    with pytest.raises(
        ValueError,
        match="Source row 1 has an image that cannot be decoded.*--errors skip on the command line, errors=.skip. in Python",
    ):
        generate_hard_negatives(ds, tiny_generator, noise_ratio=1.0, targets="random_k:1")
    with caplog.at_level(logging.WARNING, logger="genie_transforms.datasets"):
        out = generate_hard_negatives(ds, tiny_generator, noise_ratio=1.0, targets="random_k:1", errors="skip")
    assert out["source_index"] == [0, 2]
    assert "Skipping source row 1" in caplog.text


def test_a_too_small_image_is_named_by_its_row_or_skipped(tiny_generator, caplog):
    """It crashed inside the engine, after the earlier chunks, naming `images[1]` of a batch instead of the row."""
    ds = make_dataset(3).cast_column("image", ImageFeature(decode=False))
    rows = ds.to_dict()
    tiny = io.BytesIO()
    Image.new("RGB", (4, 3)).save(tiny, format="PNG")
    rows["image"][1] = {"bytes": tiny.getvalue(), "path": None}
    small = Dataset.from_dict(rows, features=ds.features).cast_column("image", ImageFeature())
    with pytest.raises(ValueError, match="Source row 1 is 4x3 px, smaller than min_image_size=8.*--errors skip"):
        generate_hard_negatives(small, tiny_generator, noise_ratio=1.0, targets="random_k:1")
    with caplog.at_level(logging.WARNING, logger="genie_transforms.datasets"):
        out = generate_hard_negatives(small, tiny_generator, noise_ratio=1.0, targets="random_k:1", errors="skip")
    assert out["source_index"] == [0, 2] and "Skipping source row 1, which is 4x3 px" in caplog.text


def test_png_bytes_round_trip_in_output(tiny_generator):
    out = generate_hard_negatives(make_dataset(1), tiny_generator, noise_ratio=1.0, targets="random_k:1")
    raw = out.cast_column("image", ImageFeature(decode=False))[0]["image"]["bytes"]
    assert Image.open(io.BytesIO(raw)).size == (32, 32)


def test_a_confusion_matrix_of_another_size_is_refused_before_any_work(tiny_generator):
    from genie_transforms.targets import get_strategy

    ds = make_dataset(4)  # 4 classes
    for size in (5, 11):
        strategy = get_strategy("confusion_top_k:1", confusion=np.ones((size, size)))
        with pytest.raises(ValueError, match=f"confusion matrix is {size}x{size} but the dataset has 4 classes"):
            generate_hard_negatives(ds, tiny_generator, noise_ratio=1.0, targets=strategy)


def test_an_unwritable_datasets_cache_keeps_the_rows_in_memory_and_says_so(
    tiny_generator, tmp_path, monkeypatch, caplog
):
    import datasets

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # a cache folder that cannot be made (as a read-only disk; the tests may run as root)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", blocker / "cache")
    with caplog.at_level(logging.WARNING, logger="genie_transforms.datasets"):
        out = generate_hard_negatives(make_dataset(2), tiny_generator, noise_ratio=1.0, targets="random_k:1")
    assert len(out) == 2 and not out.cache_files
    assert "is not writable: the hard negatives stay in memory" in caplog.text
