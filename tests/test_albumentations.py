import pickle
import warnings

import albumentations as A
import cv2
import numpy as np
import pytest
from datasets import load_from_disk

from genie_transforms.albumentations import EncodeLabel, GenieTransform


@pytest.fixture
def image():
    return np.random.default_rng(3).integers(0, 256, (40, 48, 3), dtype=np.uint8)


def test_in_compose_label_changes_exactly_when_the_image_does(bank_path, image):
    aug = A.Compose([GenieTransform(bank=bank_path, p=0.5), A.HorizontalFlip(p=1.0)], seed=0)
    changed = []
    for label in [0, 1, 2, 3] * 5:
        out = aug(image=image, label=label)
        assert out["image"].shape == image.shape and out["image"].dtype == np.uint8
        image_changed = not np.array_equal(out["image"], image[:, ::-1])
        assert image_changed == (out["label"] != label)
        changed.append(image_changed)
    assert 0 < sum(changed) < len(changed)


def test_bank_draws_come_from_the_sample_class(bank_path, image):
    bank = load_from_disk(bank_path)
    t = GenieTransform(bank=bank_path, p=1.0)
    aug = A.Compose([t], seed=1)
    for label in [0, 1, 2, 3] * 3:
        out = aug(image=image, label=label)
        (draw,) = t.params["draws"]
        row = bank[draw["bank_index"]]
        assert row["source_label"] == label and out["label"] == row["label"] != label
        expected = A.Resize(40, 48)(image=np.asarray(row["image"].convert("RGB")))["image"]  # the host's own resize
        np.testing.assert_array_equal(out["image"], expected)


@pytest.mark.parametrize("interpolation", [cv2.INTER_NEAREST, cv2.INTER_CUBIC, cv2.INTER_AREA])
def test_bank_images_are_fitted_with_the_hosts_resize_and_interpolation(bank_path, image, interpolation):
    bank = load_from_disk(bank_path)
    t = GenieTransform(bank=bank_path, p=1.0, interpolation=interpolation)
    out = A.Compose([t], seed=2)(image=image, label=1)
    row = bank[t.params["draws"][0]["bank_index"]]
    resize = A.Resize(40, 48, interpolation=interpolation)
    np.testing.assert_array_equal(out["image"], resize(image=np.asarray(row["image"].convert("RGB")))["image"])
    restored = A.from_dict(A.to_dict(A.Compose([t])))
    assert restored.transforms[0].interpolation == interpolation


def test_an_unknown_interpolation_is_refused_by_the_schema(bank_path):
    # 2.0.8 raises the schema's error; 2.0.3 warns with it, then fails on its fallback to the schema's defaults
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ValueError) as refused:
        warnings.simplefilter("always")
        GenieTransform(bank=bank_path, interpolation=99)
    assert "interpolation" in " ".join([str(refused.value), *(str(w.message) for w in caught)])


def test_p_zero_never_and_p_one_always(bank_path, image):
    never = A.Compose([GenieTransform(bank=bank_path, p=0.0)], seed=0)
    always = A.Compose([GenieTransform(bank=bank_path, p=1.0)], seed=0)
    for label in range(4):
        assert never(image=image, label=label)["label"] == label
        assert always(image=image, label=label)["label"] != label


def test_same_compose_seed_same_outputs(bank_path, image):
    def run(seed):
        aug = A.Compose([GenieTransform(bank=bank_path, p=0.5), A.RandomBrightnessContrast(p=0.5)], seed=seed)
        return [aug(image=image, label=i % 4) for i in range(12)]

    a, b, c = run(7), run(7), run(8)
    assert all(x["label"] == y["label"] and np.array_equal(x["image"], y["image"]) for x, y in zip(a, b))
    assert any(x["label"] != z["label"] or not np.array_equal(x["image"], z["image"]) for x, z in zip(a, c))


def test_serialises_to_dict_and_json_and_pickles(bank_path, image, tmp_path, tiny_generator):
    aug = A.Compose([GenieTransform(bank=bank_path, p=0.7, label_mode="onehot"), A.HorizontalFlip()], seed=2)
    data = A.to_dict(aug)
    params = data["transform"]["transforms"][0]
    assert params["bank"] == bank_path and params["p"] == 0.7 and params["label_mode"] == "onehot"
    assert "image" not in str(params)
    restored = A.from_dict(data)
    A.save(aug, str(tmp_path / "aug.json"))
    loaded = A.load(str(tmp_path / "aug.json"))
    for other in (restored, loaded, pickle.loads(pickle.dumps(aug))):
        assert A.to_dict(other) == data
    online = GenieTransform(generator=tiny_generator, prompts=["cat", "dog", "car", "boat"], noise_ratio=0.5)
    online_dict = A.to_dict(online)["transform"]
    assert online_dict["generator"]["model"]["model"] == tiny_generator.model_id
    assert online_dict["generator"]["settings"]["num_inference_steps"] == 4
    A.save(A.Compose([online]), str(tmp_path / "online.json"))  # through JSON: equal, not lists for tuples
    assert A.to_dict(A.load(str(tmp_path / "online.json"))) == A.to_dict(A.Compose([online]))
    rebuilt = A.from_dict(A.to_dict(online))
    assert rebuilt.source.generator.num_inference_steps == 4 and rebuilt.source.prompts.name(3) == "boat"
    assert len(pickle.dumps(online)) < 20_000  # configuration only, never the pipeline


def test_online_mode_generates_with_the_prompt_map(tiny_generator, image):
    t = GenieTransform(generator=tiny_generator, prompts=["cat", "dog", "car", "boat"], noise_ratio=0.5, p=1.0)
    out = A.Compose([t], seed=0)(image=image, label=2)
    (draw,) = t.params["draws"]
    assert out["label"] == draw["target"] != 2 and draw["noise_ratio"] == 0.5
    assert out["image"].shape == image.shape and not np.array_equal(out["image"], image)
    assert set(draw) == {"source_label", "target", "noise_ratio", "seed"}  # small params, no images


def test_batched_images(bank_path, image):
    """Unlike the host's own transforms (one draw for all of `images=`), each image gets its own draw: each has its
    own label, and one negative for a whole batch would give every image the same target (README)."""
    t = GenieTransform(bank=bank_path, p=1.0)
    images = np.stack([image, image[::-1]])
    out = A.Compose([t], seed=0)(images=images, label=[0, 3])
    assert out["images"].shape == images.shape
    assert [d["source_label"] for d in t.params["draws"]] == [0, 3]
    assert out["label"] == [d["target"] for d in t.params["draws"]]


@pytest.mark.parametrize("mode", ["onehot", "soft"])
def test_vector_labels(bank_path, image, mode):
    t = GenieTransform(bank=bank_path, p=1.0, label_mode=mode)
    vec = A.Compose([t], seed=0)(image=image, label=1)["label"]
    (draw,) = t.params["draws"]
    assert vec.shape == (4,) and vec.sum() == pytest.approx(1.0)
    if mode == "onehot":
        assert vec.argmax() == draw["target"] != 1
    else:  # the source keeps 1 - r, the target gets r
        assert vec[1] == pytest.approx(1 - draw["noise_ratio"]) and vec[draw["target"]] == pytest.approx(
            draw["noise_ratio"]
        )
    assert A.Compose([GenieTransform(bank=bank_path, p=0.0, label_mode=mode)])(image=image, label=1)["label"] == 1
    encoded = A.Compose([GenieTransform(bank=bank_path, p=0.0, label_mode=mode), EncodeLabel(4)])(image=image, label=1)
    assert encoded["label"].tolist() == [0, 1, 0, 0]  # the step that gives every sample one label form


def test_clear_errors(bank_path, image, tiny_generator, tmp_path):
    with pytest.raises(ValueError, match="under the key 'label'.*only the image.*ds.set_transform"):
        A.Compose([GenieTransform(bank=bank_path, p=1.0)])(image=image, target=1)
    with pytest.raises(ValueError, match="The label is 9, but the task has 4 classes"):
        A.Compose([GenieTransform(bank=bank_path, p=1.0)])(image=image, label=9)
    online = GenieTransform(generator=tiny_generator, prompts=["cat", "dog"], p=1.0)
    with pytest.raises(ValueError, match="The label is 3, but the task has 2 classes"):
        A.Compose([online])(image=image, label=3)
    with pytest.raises(ValueError, match="needs `prompts`"):
        GenieTransform(generator=tiny_generator)
    with pytest.raises(ValueError, match="exactly one of `bank`"):
        GenieTransform()
    bad = load_from_disk(bank_path).remove_columns("source_label")
    with pytest.raises(ValueError, match="lacks the columns \\['source_label'\\]"):
        GenieTransform(bank=bad)
    # as for `interpolation`: 2.0.8 raises the schema's error, 2.0.3 warns with it and fails on its fallback
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ValueError) as refused:
        warnings.simplefilter("always")
        GenieTransform(bank=bank_path, p=1.5)
    assert "less than or equal to 1" in " ".join([str(refused.value), *(str(w.message) for w in caught)])
    with pytest.raises(ValueError, match="in-memory bank"):
        A.to_dict(GenieTransform(bank=load_from_disk(bank_path)))


def test_reseed_worker_pickles_for_the_spawn_start_method():
    """Under spawn (macOS, Windows, Python 3.14) a worker_init_fn is pickled; a closure was not."""
    import pickle

    from genie_transforms.albumentations import reseed_worker

    init = pickle.loads(pickle.dumps(reseed_worker("pipeline")))
    assert init.attribute == "pipeline"
    with pytest.raises(RuntimeError, match="runs in DataLoader workers only"):
        init(0)
