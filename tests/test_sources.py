"""Where a transform's hard negatives come from (`genie_transforms.sources`): the bank, its decoded-image cache and
its resize, user sources through the protocol, and the checks of `make_source` / `TransformCore`."""

import importlib
import pickle
import re

import numpy as np
import pytest
import torch
from datasets import DatasetDict, load_from_disk
from PIL import Image

from genie_transforms import sources
from genie_transforms.sources import BankSource, HardNegativeSource, TransformCore, make_source


@pytest.fixture
def bank(bank_path):
    return load_from_disk(bank_path)


def stored(bank, row):
    """What the bank holds at `row`, read back from disk through `datasets` (the reference)."""
    return np.asarray(bank[row]["image"].convert("RGB"))


def test_draws_come_from_the_samples_class_and_are_reproducible(bank):
    source = BankSource(bank)
    rows = {c: [i for i, s in enumerate(bank["source_label"]) if s == c] for c in range(4)}
    draws = [source.draw(c, np.random.default_rng(7)) for c in range(4)]
    assert draws == [source.draw(c, np.random.default_rng(7)) for c in range(4)]
    for c, draw in enumerate(draws):
        assert draw["bank_index"] in rows[c] and draw["target"] == bank[draw["bank_index"]]["label"] != c
        assert draw["noise_ratio"] == bank[draw["bank_index"]]["noise_ratio"]
    with pytest.raises(ValueError, match="no hard negative whose source class is 9"):
        source.draw(9, np.random.default_rng(0))


@pytest.mark.parametrize(
    "like",
    [
        Image.new("RGB", (32, 32)),
        np.zeros((32, 32, 3), np.uint8),
        torch.zeros(3, 32, 32, dtype=torch.uint8),
        np.zeros((32, 32), np.uint8),
        np.zeros((32, 32, 3), np.float32),
    ],
    ids=["pil", "numpy", "tensor", "gray", "float"],
)
def test_images_come_back_in_the_samples_form_with_the_stored_pixels(bank, like):
    source = BankSource(bank)
    (image,) = source.images([like], [{"bank_index": 3}])
    assert type(image) is type(like)
    expected = stored(bank, 3)
    if isinstance(like, Image.Image):
        np.testing.assert_array_equal(np.asarray(image), expected)
    elif isinstance(like, torch.Tensor):
        assert torch.equal(image, torch.tensor(expected).permute(2, 0, 1))
    elif like.ndim == 2:
        np.testing.assert_array_equal(image, np.asarray(Image.fromarray(expected).convert("L")))
    else:
        assert image.dtype == like.dtype
        np.testing.assert_allclose(image, expected / 255 if like.dtype == np.float32 else expected, atol=1e-6)


def test_a_sample_of_another_size_gets_the_given_resize(bank):
    calls = []

    def resize(image, size):
        calls.append((image.shape, size))
        return np.full((*size, 3), 7, np.uint8)

    source = BankSource(bank, resize)
    (image,) = source.images([np.zeros((40, 48, 3), np.uint8)], [{"bank_index": 0}])
    assert calls == [((32, 32, 3), (40, 48))] and (image == 7).all()
    image[:] = 0  # the caller's own copy
    (again,) = source.images([np.zeros((40, 48, 3), np.uint8)], [{"bank_index": 0}])
    assert len(calls) == 1 and (again == 7).all()  # fitted once, then from the cache
    source.images([np.zeros((32, 32, 3), np.uint8)], [{"bank_index": 0}])
    assert len(calls) == 1  # same size: no resize
    (pil,) = BankSource(bank).images([Image.new("RGB", (48, 40))], [{"bank_index": 0}])
    assert pil.size == (48, 40)
    np.testing.assert_array_equal(np.asarray(pil), np.asarray(bank[0]["image"].resize((48, 40), 3)))  # no resize given


def test_fitted_images_are_cached_per_form_and_never_shared_with_the_caller(bank, monkeypatch):
    source = BankSource(bank)
    decodes = []
    real = source._decode
    monkeypatch.setattr(source, "_decode", lambda row, spec: decodes.append(row) or real(row, spec))
    like, tensor_like = np.zeros((32, 32, 3), np.uint8), torch.zeros(3, 32, 32, dtype=torch.uint8)
    (first,) = source.images([like], [{"bank_index": 2}])
    first[:] = 0  # the caller owns what it gets
    (second,) = source.images([like], [{"bank_index": 2}])
    np.testing.assert_array_equal(second, stored(bank, 2))
    (tensor,) = source.images([tensor_like], [{"bank_index": 2}])
    tensor.zero_()
    assert torch.equal(
        source.images([tensor_like], [{"bank_index": 2}])[0], torch.tensor(stored(bank, 2)).permute(2, 0, 1)
    )
    assert decodes == [2, 2]  # once per form: numpy, then tensor
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 3] = 9
    out = source.images([rgba], [{"bank_index": 2}])[0]
    assert (out[..., 3] == 9).all() and decodes == [2, 2, 2]  # the sample's own alpha: made for it, not cached


def test_the_cache_is_bounded_and_starts_empty_in_each_process(bank, monkeypatch):
    one = 32 * 32 * 3
    monkeypatch.setattr(sources, "DECODED_CACHE_BYTES", 2 * one)
    source = BankSource(bank)
    for row in (0, 1, 2, 1, 3):
        source.images([np.zeros((32, 32, 3), np.uint8)], [{"bank_index": row}])
    assert [row for row, _ in source._cache] == [1, 3] and source._cache_bytes == 2 * one  # least recent dropped
    copy = pickle.loads(pickle.dumps(source))  # what a DataLoader worker gets
    assert not copy._cache and copy._cache_bytes == 0
    np.testing.assert_array_equal(
        copy.images([np.zeros((32, 32, 3), np.uint8)], [{"bank_index": 1}])[0], stored(bank, 1)
    )


def test_a_bank_without_the_bank_columns_or_rows_is_refused(bank):
    with pytest.raises(ValueError, match=r"lacks the columns \['source_label'\]"):
        BankSource(bank.remove_columns("source_label"))
    with pytest.raises(ValueError, match="empty"):
        BankSource(bank.select([]))
    with pytest.raises(TypeError, match="datasets.Dataset or a path"):
        BankSource([1, 2])


class Constant:
    """A hard-negative source of one's own: every sample becomes a grey image of class (label + 1) % 3."""

    kind, num_classes, names = "constant", 3, None

    def serves(self, label):
        return True

    def draw(self, label, rng):
        return {"source_label": label, "target": (label + 1) % 3, "noise_ratio": 1.0}

    def images(self, sources, params):
        return [np.full_like(s, 128) for s in sources]


def test_make_source_takes_a_bank_a_path_a_source_of_ones_own_or_a_generator(bank, bank_path, tiny_generator, prompts):
    assert isinstance(Constant(), HardNegativeSource)
    assert isinstance(make_source(bank=Constant()), Constant)
    assert isinstance(make_source(bank=bank_path), BankSource) and isinstance(make_source(bank=bank), BankSource)
    online = make_source(generator=tiny_generator, prompts=prompts)
    assert online.kind == "online" and online.num_classes == 4
    with pytest.raises(ValueError, match="exactly one of `bank`"):
        make_source()
    with pytest.raises(ValueError, match="exactly one of `bank`"):
        make_source(generator=tiny_generator, bank=bank)
    with pytest.raises(ValueError, match="needs `prompts`"):
        make_source(generator=tiny_generator)


def test_the_core_gives_the_label_back_in_its_mode():
    hard = TransformCore(Constant(), "hard")
    draw = hard.draw(1, np.random.default_rng(0))
    assert hard.label_out(np.int64(1), draw) == 2 and isinstance(hard.label_out(np.int64(1), draw), np.int64)
    assert hard.label_out(1, None) == 1
    soft = TransformCore(Constant(), "soft")
    np.testing.assert_allclose(soft.label_out(1, draw), [0.0, 0.0, 1.0])  # r = 1: all on the target
    with pytest.raises(ValueError, match="task has 4 classes but the constant has 3"):
        TransformCore(Constant(), num_classes=4)
    with pytest.raises(ValueError, match="`unserved` must be"):
        TransformCore(Constant(), unserved="drop")


@pytest.mark.parametrize("host", ["torchvision", "albumentations"])
def test_a_bank_that_is_not_one_split_or_not_there_is_named_with_its_fix(host, bank_path, tmp_path, monkeypatch):
    """A DatasetDict bank names its splits and the one to pick (Albumentations hands it over as a plain dict); a bank
    folder that does not exist is named as a missing folder, not only as a Hub lookup that failed."""
    pytest.importorskip(host)  # an optional extra (not in the lowest-versions run)
    module = importlib.import_module(f"genie_transforms.{host}")
    bank = DatasetDict({"train": load_from_disk(bank_path)})
    with pytest.raises(TypeError, match=r"several splits \['train'\]; pass one split: bank=bank\['train'\]"):
        module.GenieTransform(bank=bank)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OSError, match=f"there is no folder {re.escape(str(tmp_path / 'runs' / 'nope'))}"):
        module.GenieTransform(bank="runs/nope")
    with pytest.raises(FileNotFoundError, match="No such folder: './runs/nope'"):
        module.GenieTransform(bank="./runs/nope")


def test_a_remapped_bank_is_refused_not_drawn_from_the_wrong_class(bank):
    """The silent failure first: `align_labels_with_mapping` remaps `label` and leaves `source_label`, and every draw
    took the wrong source class."""
    mapping = {"boat": 0, "car": 1, "dog": 2, "cat": 3}
    with pytest.raises(ValueError, match="'label' and 'source_label' name other classes"):
        BankSource(bank.align_labels_with_mapping(mapping, "label"))
    both = bank.align_labels_with_mapping(mapping, "label").align_labels_with_mapping(mapping, "source_label")
    source = BankSource(both)  # both remapped the same way: consistent
    rng = np.random.default_rng(0)
    for label in range(4):
        row = source.draw(label, rng)["bank_index"]
        assert both[row]["source_label"] == label


def test_a_bank_with_originals_hands_out_only_generated_images(tiny_generator, make_dataset):
    from genie_transforms.datasets import generate_hard_negatives

    mixed = generate_hard_negatives(make_dataset(4), tiny_generator, noise_ratio=1.0, targets="random_k:1")
    with_originals = generate_hard_negatives(
        make_dataset(4), tiny_generator, noise_ratio=1.0, targets="random_k:1", keep_original=True
    )
    assert len(with_originals) == 2 * len(mixed)
    source = BankSource(with_originals)
    rng = np.random.default_rng(0)
    rows = [source.draw(label, rng)["bank_index"] for label in range(4) for _ in range(30)]
    assert all(with_originals[r]["is_generated"] for r in set(rows))


def test_a_bank_whose_files_were_regenerated_under_a_pickled_transform_is_refused(bank_path, tmp_path):
    import shutil

    folder = tmp_path / "bank"
    shutil.copytree(bank_path, folder)
    source = BankSource(load_from_disk(str(folder)))
    state = pickle.dumps(source)
    pickle.loads(state)  # unchanged: a worker re-opens it
    regenerated = load_from_disk(bank_path).shuffle(seed=1).flatten_indices()  # other rows, other labels
    shutil.rmtree(folder)
    regenerated.save_to_disk(str(folder))
    with pytest.raises(RuntimeError, match="bank's files changed since this transform was made"):
        pickle.loads(state)


def test_a_bank_path_may_be_a_pathlib_path_or_a_job_folder_with_any_split(bank_path, tmp_path):
    import json
    from pathlib import Path

    assert len(BankSource(Path(bank_path)).targets) == len(load_from_disk(bank_path))
    job = tmp_path / "job"
    (job / "dataset" / "data").mkdir(parents=True)
    load_from_disk(bank_path).to_parquet(str(job / "dataset" / "data" / "test-00000-of-00001.parquet"))
    (job / "job.json").write_text(json.dumps({"split": "test"}))
    assert len(BankSource(job).targets) == len(load_from_disk(bank_path))


def test_a_class_the_bank_cannot_serve_is_refused_at_construction_without_num_classes(bank):
    partial = bank.filter(lambda row: row["source_label"] != 2)
    with pytest.raises(ValueError, match=r"no hard negative for the source classes \[2\]"):
        TransformCore(BankSource(partial))
    core = TransformCore(BankSource(partial), unserved="pass")
    assert core.draw(2, np.random.default_rng(0)) is None and core.draw(1, np.random.default_rng(0)) is not None


def test_malformed_bank_columns_are_named(bank):
    from datasets import Value

    with pytest.raises(ValueError, match="'label' column is Value.*string.*not class indices"):
        BankSource(bank.cast_column("label", Value("string")))
    with pytest.raises(ValueError, match="'noise_ratio' column is Value.*string.*not float"):
        BankSource(bank.cast_column("noise_ratio", Value("string")))
    nones = bank.cast_column("source_label", Value("int64")).map(
        lambda row, i: {"source_label": None if i == 0 else row["source_label"]}, with_indices=True
    )
    with pytest.raises(ValueError, match="'source_label' column has missing values"):
        BankSource(nones)
