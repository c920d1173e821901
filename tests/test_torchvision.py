import pickle

import numpy as np
import pytest
import torch
from datasets import load_from_disk
from PIL import Image
from torch.utils.data import DataLoader, Dataset

pytest.importorskip("torchvision")  # an optional extra (not in the lowest-versions run, see .ci/run)

from torchvision import tv_tensors
from torchvision.transforms import v2

from genie_transforms.torchvision import GenieTransform

from .helpers import save_image_folder


@pytest.fixture
def pil_image():
    return Image.fromarray(np.random.default_rng(4).integers(0, 256, (40, 48, 3), dtype=np.uint8))


def test_tuple_dict_and_tv_tensor_samples_in_compose(bank_path, pil_image):
    tf = v2.Compose([GenieTransform(bank=bank_path, p=1.0), v2.RandomHorizontalFlip(p=0.5)])
    img, label = tf(pil_image, 0)
    assert isinstance(img, Image.Image) and img.size == pil_image.size and label != 0 and isinstance(label, int)
    tensor = tv_tensors.Image(torch.rand(3, 32, 32))
    out = tf({"image": tensor, "label": torch.tensor(2), "id": 2})
    assert isinstance(out["image"], tv_tensors.Image) and out["image"].shape == (3, 32, 32)
    assert isinstance(out["label"], torch.Tensor) and out["label"].item() != 2 and out["id"] == 2
    plain = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    img2, meta = tf(plain, {"labels": 1, "name": "x"})
    assert img2.dtype == torch.uint8 and meta["labels"] != 1 and meta["name"] == "x"


def test_label_changes_exactly_when_the_image_does(bank_path):
    torch.manual_seed(0)
    t = GenieTransform(bank=bank_path, p=0.5)
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    changed = []
    for label in [0, 1, 2, 3] * 5:
        out, new = t(image, label)
        assert (not torch.equal(out, image)) == (new != label) == (t.last_draw is not None)
        changed.append(new != label)
    assert 0 < sum(changed) < len(changed)


def test_bank_draws_come_from_the_sample_class(bank_path, pil_image):
    bank = load_from_disk(bank_path)
    t = GenieTransform(bank=bank_path, p=1.0)
    for label in [0, 1, 2, 3] * 3:
        _, new = t(pil_image, label)
        row = bank[t.last_draw["bank_index"]]
        assert row["source_label"] == label and row["label"] == new


@pytest.mark.parametrize("interpolation", [v2.InterpolationMode.BILINEAR, v2.InterpolationMode.NEAREST, 3])
def test_bank_images_are_fitted_with_the_hosts_resize_and_interpolation(bank_path, interpolation):
    bank = load_from_disk(bank_path)
    image = torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8)
    t = GenieTransform(bank=bank_path, p=1.0, interpolation=interpolation)
    out, _ = t(image, 2)
    stored = v2.functional.pil_to_tensor(bank[t.last_draw["bank_index"]]["image"].convert("RGB"))
    assert torch.equal(out, v2.Resize((40, 48), interpolation=interpolation)(stored))  # the host's own resize


@pytest.mark.parametrize("interpolation", ["sideways", 99, None])
def test_an_unknown_interpolation_is_refused_at_construction(bank_path, interpolation):
    with pytest.raises(ValueError, match=f"`interpolation` must be .*, got {interpolation!r}"):
        GenieTransform(bank=bank_path, interpolation=interpolation)


def test_p_semantics_and_seed_reproducibility(bank_path, pil_image):
    assert GenieTransform(bank=bank_path, p=0.0)(pil_image, 1)[1] == 1
    assert GenieTransform(bank=bank_path, p=1.0)(pil_image, 1)[1] != 1

    def run(seed):
        torch.manual_seed(seed)
        tf = v2.Compose([GenieTransform(bank=bank_path, p=0.5), v2.RandomHorizontalFlip()])
        return [(np.asarray(im).tobytes(), y) for im, y in (tf(pil_image, i % 4) for i in range(12))]

    assert run(3) == run(3) and run(3) != run(4)


def test_soft_labels_compose_with_mixup(bank_path):
    t = GenieTransform(bank=bank_path, p=1.0, label_mode="soft")
    images, labels = zip(*(t(torch.rand(3, 32, 32), i % 4) for i in range(4)))
    labels = torch.stack(labels)
    assert labels.shape == (4, 4) and torch.allclose(labels.sum(1), torch.ones(4))
    _mixed_images, mixed = v2.MixUp(num_classes=4)(torch.stack(images), labels)
    assert mixed.shape == (4, 4) and torch.allclose(mixed.sum(1), torch.ones(4))


class _Digits(Dataset):
    def __init__(self, transform):
        rng = np.random.default_rng(0)
        self.images = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(8)]
        self.transform = transform

    def __len__(self):
        return 8

    def __getitem__(self, i):
        image, label = self.transform(self.images[i], i % 4)
        return v2.functional.pil_to_tensor(image), label


def test_dataloader_with_two_workers_in_bank_mode(bank_path):
    tf = v2.Compose([GenieTransform(bank=bank_path, p=1.0), v2.RandomHorizontalFlip()])
    pickle.loads(pickle.dumps(tf))
    torch.manual_seed(0)
    batches = list(DataLoader(_Digits(tf), batch_size=4, num_workers=2))
    labels = torch.cat([y for _, y in batches])
    assert len(labels) == 8 and all(labels[i] != i % 4 for i in range(8))
    torch.manual_seed(0)
    again = torch.cat([y for _, y in DataLoader(_Digits(tf), batch_size=4, num_workers=2)])
    assert torch.equal(labels, again)


def test_online_mode(tiny_generator, pil_image):
    t = GenieTransform(generator=tiny_generator, prompts=["cat", "dog", "car", "boat"], noise_ratio=0.5, p=1.0)
    img, label = t(pil_image, 3)
    assert label == t.last_draw["target"] != 3 and img.size == pil_image.size


def test_custom_labels_getter(bank_path, pil_image):
    t = GenieTransform(bank=bank_path, p=1.0, labels_getter=lambda sample: sample[2])
    _img, name, label = t(pil_image, "cat-1", torch.tensor(0))
    assert name == "cat-1" and label.item() == t.last_draw["target"]


def test_clear_errors(bank_path, pil_image, tiny_generator):
    t = GenieTransform(bank=bank_path, p=1.0)
    with pytest.raises(ValueError, match="No label-like key"):
        t({"image": pil_image, "kind": 1})
    with pytest.raises(ValueError, match="The label is 7, but the task has 4 classes"):
        t(pil_image, 7)
    with pytest.raises(ValueError, match="must be an int class index"):
        t(pil_image, "cat")
    with pytest.raises(ValueError, match="needs `prompts`"):
        GenieTransform(generator=tiny_generator)
    with pytest.raises(ValueError, match="lacks the columns"):
        GenieTransform(bank=load_from_disk(bank_path).remove_columns("image"))
    with pytest.raises(ValueError, match="The label is 5, but the task has 2 classes"):
        GenieTransform(generator=tiny_generator, prompts=["a", "b"], p=1.0)(pil_image, 5)


@pytest.fixture
def image_folder(tmp_path):
    """An ImageFolder tree of 4 classes (c0..c3, indices 0..3 as in the bank) with 2 photo-sized JPEGs each."""
    return save_image_folder(tmp_path / "photos", [f"c{c}" for c in range(4)], size=(64, 48), suffix="jpg")


def test_imagefolder_transform_that_sees_only_the_image_is_pointed_at_the_recipe(image_folder, bank_path):
    from torchvision.datasets import ImageFolder

    plain = ImageFolder(str(image_folder), transform=v2.Compose([GenieTransform(bank=bank_path, p=1.0)]))
    with pytest.raises(ValueError, match=r"without its label.*TransformedDataset\(ImageFolder\(root\).*BatchTransform"):
        plain[0]


def test_imagefolder_through_transformed_dataset_and_dataloader_workers(image_folder, bank_path):
    """The recipe: ImageFolder without transform=, wrapped so that the pipeline sees (image, label); GeNIe first,
    then the crop, so the negatives get the crop augmentation too. Works in DataLoader workers, reproducibly."""
    from torchvision.datasets import ImageFolder

    from genie_transforms.torchvision import TransformedDataset

    tf = v2.Compose(
        [
            GenieTransform(bank=bank_path, p=1.0),
            v2.RandomResizedCrop(24, scale=(0.5, 1.0)),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
    folder = ImageFolder(str(image_folder))
    train = TransformedDataset(folder, tf)
    assert len(train) == 8
    image, label = train[0]
    assert image.shape == (3, 24, 24) and label != folder.targets[0] and label == tf.transforms[0].last_draw["target"]
    torch.manual_seed(0)
    first = list(DataLoader(train, batch_size=4, num_workers=2))
    torch.manual_seed(0)
    again = list(DataLoader(train, batch_size=4, num_workers=2))
    labels = torch.cat([y for _, y in first])
    assert torch.equal(labels, torch.cat([y for _, y in again]))
    assert all(int(y) != t for y, t in zip(labels, folder.targets))  # every sample became a hard negative
    with pytest.raises(ValueError, match=r"needs \(image, label\) samples"):
        TransformedDataset([Image.new("RGB", (8, 8))], tf)[0]


def test_hugging_face_set_transform_and_with_transform(bank_path):
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as ImageFeature

    from genie_transforms.torchvision import BatchTransform

    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(6)]
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=["cat", "dog", "car", "boat"])})
    ds = Dataset.from_dict({"image": images, "label": [i % 4 for i in range(6)]}, features=features)
    fn = BatchTransform(v2.Compose([GenieTransform(bank=bank_path, p=1.0), v2.Resize(20), v2.PILToTensor()]))
    pickle.loads(pickle.dumps(fn))
    shown = ds.with_transform(fn)
    row = shown[2]
    assert row["image"].shape == (3, 20, 20) and row["label"] != 2
    batch = shown[:6]
    assert len(batch["image"]) == 6 and all(y != i % 4 for i, y in enumerate(batch["label"]))
    ds.set_transform(fn)
    loader = DataLoader(ds, batch_size=3, collate_fn=lambda rows: rows)
    assert sum(len(b) for b in loader) == 6
    with pytest.raises(KeyError, match="pass image_column= and label_column="):
        ds.with_transform(BatchTransform(fn.transforms, image_column="img"))[0]


@pytest.mark.parametrize("mode", ["P", "CMYK", "1", "L", "YCbCr"])
def test_pil_images_come_back_in_their_mode(bank_path, pil_image, mode):
    image = pil_image.convert(mode)
    transform = GenieTransform(bank=bank_path, p=1.0)
    out, label = transform(image, 1)
    assert out.mode == mode and out.size == image.size and label == transform.last_draw["target"]


def test_a_batch_with_one_label_says_the_shape_it_needs(bank_path):
    batch = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    for label in (1, torch.tensor(1), np.int64(1)):
        with pytest.raises(ValueError, match=r"2 images but one label .* shape \(N,\)"):
            GenieTransform(bank=bank_path, p=1.0)(batch, label)
