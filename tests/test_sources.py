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
