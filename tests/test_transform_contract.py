"""One contract for both `GenieTransform`s (Albumentations and torchvision v2), run with each host's own rules:
pickling and serialisation, p = 0 and 1, seeds, containers that may skip the transform, one label form after
`EncodeLabel`, the label contract, the class list, dtypes, dense targets, batches, workers and forked processes."""

from __future__ import annotations

import multiprocessing
import pickle

import numpy as np
import pytest
import torch
from datasets import load_from_disk
from torch.utils.data import DataLoader, Dataset

try:  # each host's tests run where the host is installed (the lowest-versions CI run has no torchvision)
    import albumentations as A

    from genie_transforms import albumentations as gt_a
except ImportError:
    A = gt_a = None
try:
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    from genie_transforms import torchvision as gt_v
except ImportError:
    tv_tensors = v2 = gt_v = None

needs_albumentations = pytest.mark.skipif(A is None, reason="albumentations is not installed")
needs_torchvision = pytest.mark.skipif(v2 is None, reason="torchvision is not installed")

IMAGE = np.random.default_rng(3).integers(0, 256, (40, 48, 3), dtype=np.uint8)


class AlbumentationsHost:
    name = "albumentations"
    module = gt_a

    def compose(self, transforms, seed=0):
        return A.Compose(list(transforms), seed=seed)

    def run(self, pipeline, image, label):
        out = pipeline(image=image, label=label)
        return out["image"], out["label"]

    def image(self, dtype=np.uint8):
        return IMAGE.astype(dtype) / (255 if dtype != np.uint8 else 1) if dtype != np.uint8 else IMAGE.copy()

    def containers(self, t):
        """Pipelines in which GenieTransform may be skipped, then EncodeLabel."""
        other = A.HorizontalFlip(p=1.0)
        return {
            "OneOf": [A.OneOf([t, other], p=1.0)],
            "SomeOf": [A.SomeOf([t, other], n=1, p=1.0)],
            "OneOrOther": [A.OneOrOther(t, other)],
            "Compose(p<1)": [A.Compose([t], p=0.5)],
        }


class TorchvisionHost:
    name = "torchvision"
    module = gt_v

    def compose(self, transforms, seed=0):
        torch.manual_seed(seed)
        return v2.Compose(list(transforms))

    def run(self, pipeline, image, label):
        return pipeline(image, label)

    def image(self, dtype=torch.uint8):
        tensor = torch.from_numpy(IMAGE).permute(2, 0, 1).contiguous()
        return tensor if dtype == torch.uint8 else (tensor.float() / 255).to(dtype)

    def containers(self, t):
        other = v2.RandomHorizontalFlip(p=1.0)
        return {"RandomApply": [v2.RandomApply([t], p=0.5)], "RandomChoice": [v2.RandomChoice([t, other])]}


HOSTS = [
    pytest.param(AlbumentationsHost(), marks=needs_albumentations, id="albumentations"),
    pytest.param(TorchvisionHost(), marks=needs_torchvision, id="torchvision"),
]


@pytest.fixture(params=HOSTS)
def host(request):
    return request.param


def test_pickles_and_serialises_as_configuration(host, bank_path):
    t = host.module.GenieTransform(bank=bank_path, p=1.0, num_classes=4)
    again = pickle.loads(pickle.dumps(t))
    _image, label = host.run(host.compose([again]), host.image(), 2)
    assert label != 2
    if host.name == "albumentations":
        data = A.to_dict(A.Compose([t]))
        assert A.to_dict(A.from_dict(data)) == data and data["transform"]["transforms"][0]["num_classes"] == 4


def test_repr_and_print_work_with_an_in_memory_bank(host, bank_path, capsys):
    bank = load_from_disk(bank_path)
    t = host.module.GenieTransform(bank=bank, p=0.5)
    print(host.compose([t]))
    assert "GenieTransform" in repr(t) and "rows" in repr(t) and "GenieTransform" in capsys.readouterr().out
    if host.name == "albumentations":
        with pytest.raises(ValueError, match="in-memory bank"):
            A.to_dict(A.Compose([t]))


def test_p_zero_gives_back_the_label_as_it_went_in_and_p_one_always_applies(host, bank_path):
    for label in (1, np.int64(1), torch.tensor(1), torch.tensor([1])):
        never = host.compose([host.module.GenieTransform(bank=bank_path, p=0.0, label_mode="soft")])
        _image, out = host.run(never, host.image(), label)
        assert out is label  # untouched, type and shape
        always = host.compose([host.module.GenieTransform(bank=bank_path, p=1.0)])
        _, new = host.run(always, host.image(), label)
        assert type(new) is type(label) and int(np.asarray(new).reshape(())) != 1
        if isinstance(label, torch.Tensor):
            assert new.shape == label.shape and new.dtype == label.dtype


@pytest.mark.parametrize(
    "bad, match",
    [
        (1.7, "int class index"),
        ("3", "int class index"),
        (True, "int class index"),
        (-1, "no class"),
        (9, "task has 4 classes"),
        (torch.tensor([1, 2]), "one integer class index"),
    ],
)
def test_one_label_contract(host, bank_path, bad, match):
    for p in (0.0, 1.0):  # whether or not it applies
        pipeline = host.compose([host.module.GenieTransform(bank=bank_path, p=p)])
        with pytest.raises(ValueError, match=match):
            host.run(pipeline, host.image(), bad)


def test_the_label_changes_exactly_when_the_image_does(host, bank_path):
    pipeline = host.compose([host.module.GenieTransform(bank=bank_path, p=0.5)], seed=5)
    changes = []
    for label in [0, 1, 2, 3] * 4:
        image, new = host.run(pipeline, host.image(), label)
        same = np.array_equal(np.asarray(image), np.asarray(host.image()))
        assert same == (new == label)
        changes.append(not same)
    assert 0 < sum(changes) < len(changes)


def test_seeds_reproduce_and_differ(host, bank_path):
    def run(seed):
        pipeline = host.compose([host.module.GenieTransform(bank=bank_path, p=0.5)], seed=seed)
        return [host.run(pipeline, host.image(), i % 4)[1] for i in range(12)]

    assert run(3) == run(3) and run(3) != run(4)


@pytest.mark.parametrize("mode", ["onehot", "soft"])
def test_every_sample_leaves_containers_with_one_label_form(host, bank_path, mode):
    t = host.module.GenieTransform(bank=bank_path, p=0.7, label_mode=mode)
    for name, steps in host.containers(t).items():
        pipeline = host.compose([*steps, host.module.EncodeLabel(4)], seed=1)
        labels = [host.run(pipeline, host.image(), i % 4)[1] for i in range(12)]
        batch = torch.utils.data.default_collate([torch.as_tensor(y) for y in labels])
        assert batch.shape == (12, 4) and batch.dtype == torch.float32, name
        assert torch.allclose(batch.sum(dim=1), torch.ones(12)), name


def test_the_class_list_is_checked_at_construction(host, bank_path):
    with pytest.raises(ValueError, match="task has 3 classes but the bank has 4"):
        host.module.GenieTransform(bank=bank_path, num_classes=3)
    with pytest.raises(ValueError, match="are not the bank's"):
        host.module.GenieTransform(bank=bank_path, classes=["a", "b", "c", "d"])
    assert host.module.GenieTransform(bank=bank_path, classes=["cat", "dog", "car", "boat"]).core.num_classes == 4
    partial = load_from_disk(bank_path).filter(lambda r: r["source_label"] != 2)
    with pytest.raises(ValueError, match=r"no hard negative for the source classes \[2\]"):
        host.module.GenieTransform(bank=partial, num_classes=4)
    t = host.module.GenieTransform(bank=partial, num_classes=4, unserved="pass", p=1.0)
    image, label = host.run(host.compose([t]), host.image(), 2)
    assert label == 2 and np.array_equal(np.asarray(image), np.asarray(host.image()))  # passed through


def test_float_dtypes_come_back_in_their_dtype(host, bank_path):
    dtypes = (
        [np.float16, np.float32, np.float64]
        if host.name == "albumentations"
        else [torch.float16, torch.float64, torch.bfloat16]
    )
    for dtype in dtypes:
        if host.name == "albumentations":
            image = (IMAGE / 255).astype(dtype)
            out = gt_a.GenieTransform(bank=bank_path, p=1.0).apply(
                image, draws=[{"bank_index": 0, "source_label": 0, "target": 1, "noise_ratio": 0.5}]
            )
        else:
            image = host.image(dtype)
            out, _ = gt_v.GenieTransform(bank=bank_path, p=1.0)(image, 0)
        assert out.dtype == image.dtype and out.shape == image.shape


def test_dense_targets_are_refused_unless_allowed(host, bank_path):
    t = host.module.GenieTransform(bank=bank_path, p=1.0)
    if host.name == "albumentations":
        with pytest.raises(ValueError, match="would describe another picture"):
            A.Compose([t])(image=IMAGE, label=1, mask=np.zeros((40, 48), np.uint8))
        allowed = gt_a.GenieTransform(bank=bank_path, p=1.0, allow_dense_targets=True)
        assert A.Compose([allowed])(image=IMAGE, label=1, mask=np.zeros((40, 48), np.uint8))["label"] != 1
    else:
        mask = tv_tensors.Mask(torch.zeros(40, 48, dtype=torch.uint8))
        with pytest.raises(ValueError, match="would describe another picture"):
            t({"image": tv_tensors.Image(host.image()), "mask": mask, "label": 1})


def test_two_workers_draw_differently_epochs_differ_and_a_seeded_run_repeats(host, bank_path):
    class Samples(Dataset):
        def __init__(self, pipeline):
            self.transform = pipeline

        def __len__(self):
            return 8

        def __getitem__(self, i):
            _image, label = host.run(self.transform, host.image(), i % 4)
            return int(label)

    def epochs(seed):
        torch.manual_seed(seed)
        pipeline = host.compose([host.module.GenieTransform(bank=bank_path, p=1.0)], seed=0)
        init = host.module.reseed_worker("transform") if host.name == "albumentations" else None
        loader = DataLoader(
            Samples(pipeline), batch_size=4, num_workers=2, worker_init_fn=init, multiprocessing_context="fork"
        )
        return [[y for batch in loader for y in batch.tolist()] for _ in range(2)]

    first, again = epochs(0), epochs(0)
    assert first == again  # a seeded run repeats
    assert first[0] != first[1]  # epochs differ
    worker0, worker1 = first[0][:4], first[0][4:]
    assert worker0 != worker1  # the two workers (same classes 0-3) drew different negatives


def _online_in_a_forked_child(args):
    t, image = args
    return int(t(image=image, label=1)["label"]) if hasattr(t, "targets_as_params") else int(t(image, 1)[1])


def test_online_mode_in_a_forked_pool_does_not_hang(host, tiny_generator):
    t = host.module.GenieTransform(generator=tiny_generator, prompts=["cat", "dog", "car", "boat"], p=1.0)
    image = IMAGE if host.name == "albumentations" else host.image()
    _online_in_a_forked_child((t, image))  # torch has run in this (parent) process
    with multiprocessing.get_context("fork").Pool(2) as pool:
        result = pool.map_async(_online_in_a_forked_child, [(t, image)] * 2)
        labels = result.get(timeout=120)  # hung forever before (OpenMP threads after fork)
    assert all(label != 1 for label in labels)


@needs_albumentations
def test_albumentations_strict_mode_additional_targets_and_replay(bank_path):
    t = gt_a.GenieTransform(bank=bank_path, p=1.0)
    out = A.Compose([t], strict=True)(image=IMAGE, label=3)
    assert out["label"] != 3
    with pytest.raises(ValueError, match="under the key 'label'"):
        A.Compose([gt_a.GenieTransform(bank=bank_path, p=0.0)])(image=IMAGE)  # missing, though it would not apply
    tracked = A.Compose([t, A.HorizontalFlip(p=1.0)], save_applied_params=True, seed=0)(image=IMAGE, label=2)
    name, params = tracked["applied_transforms"][0]  # tracking: the draw is recorded, small and without images
    assert name == "GenieTransform" and params["draws"][0]["target"] == tracked["label"] != 2
    both = A.Compose([t], additional_targets={"image2": "image"}, seed=0)(image=IMAGE, image2=IMAGE.copy(), label=0)
    np.testing.assert_array_equal(both["image"], both["image2"])
    # Albumentations warns, at each ReplayCompose it builds, about transforms whose params depend on targets
    depends_on_targets = "params depend on targets"
    with pytest.warns(UserWarning, match=depends_on_targets):
        replay = A.ReplayCompose([gt_a.GenieTransform(bank=bank_path, p=1.0)])
    first = replay(image=IMAGE, label=1)
    with pytest.warns(UserWarning, match=depends_on_targets):
        same = A.ReplayCompose.replay(first["replay"], image=IMAGE, label=1)
    assert same["label"] == first["label"]
    with pytest.warns(UserWarning, match=depends_on_targets):
        with pytest.raises(ValueError, match="made for a sample of class 1, but the sample is of class 2"):
            A.ReplayCompose.replay(first["replay"], image=IMAGE, label=2)


@needs_torchvision
def test_torchvision_finds_the_image_as_torchvision_does(bank_path):
    t = gt_v.GenieTransform(bank=bank_path, p=1.0)
    depth = torch.rand(1, 16, 16)
    image = tv_tensors.Image(torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8))
    out = t({"depth": depth, "image": image, "label": 3})
    assert out["depth"] is depth and not torch.equal(out["image"], image) and out["label"] != 3
    assert gt_v.find_image([depth, torch.rand(3, 8, 8)]) == 0  # no explicit image: the first plain tensor


@needs_torchvision
def test_torchvision_batches_and_cutmix_on_a_dataloader_batch(bank_path):
    torch.manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    t = gt_v.GenieTransform(bank=bank_path, p=0.5)
    out, new = t(images, labels)
    applied = [d is not None for d in t.last_draw]
    assert out.shape == images.shape and new.shape == labels.shape and 0 < sum(applied) < 6
    for i, was in enumerate(applied):
        assert was == (new[i] != labels[i]).item() == (not torch.equal(out[i], images[i]))
    batch = tv_tensors.Image(images.float() / 255)
    mixed_images, mixed = v2.Compose([gt_v.GenieTransform(bank=bank_path, p=0.5), v2.CutMix(num_classes=4)])(
        batch, labels
    )
    assert mixed_images.shape == batch.shape and mixed.shape == (6, 4)


@needs_albumentations
def test_albumentationsx_is_refused_clearly(monkeypatch):
    import importlib.metadata

    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "2.4.1" if name == "albumentationsx" else real(name)
    )
    with pytest.raises(ImportError, match="AlbumentationsX 2.4.1 is installed"):
        gt_a._check_albumentations()
