import numpy as np
import pytest
import torch
from PIL import Image

from genie_transforms.images import restore, split_batch, to_rgb


def _forms():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    rgba = np.concatenate([rgb, rng.integers(0, 256, (20, 30, 1), dtype=np.uint8)], axis=2)
    return {
        "pil_rgb": Image.fromarray(rgb),
        "pil_l": Image.fromarray(gray),
        "pil_rgba": Image.fromarray(rgba),
        "np_rgb": rgb,
        "np_gray": gray,
        "np_gray1": gray[..., None],
        "np_rgba": rgba,
        "np_float": rgb.astype(np.float32) / 255,
        "t_uint8": torch.from_numpy(rgb).permute(2, 0, 1).contiguous(),
        "t_float": torch.from_numpy(rgb).permute(2, 0, 1).float() / 255,
        "t_gray": torch.from_numpy(gray)[None],
        "np_float16": (rgb / 255).astype(np.float16),
        "np_float64": rgb / 255,
        "t_float16": torch.from_numpy(rgb).permute(2, 0, 1).half() / 255,
        "t_bfloat16": (torch.from_numpy(rgb).permute(2, 0, 1).float() / 255).bfloat16(),
        "t_float64": torch.from_numpy(rgb).permute(2, 0, 1).double() / 255,
    }


@pytest.mark.parametrize("name", list(_forms()))
def test_round_trip_keeps_form_size_and_pixels(name):
    image = _forms()[name]
    rgb, spec = to_rgb(image)
    assert rgb.mode == "RGB" and rgb.size == (30, 20)
    back = restore(rgb, spec)
    assert type(back) is type(image)
    if isinstance(image, Image.Image):
        assert back.mode == image.mode and back.size == image.size
        np.testing.assert_array_equal(np.asarray(back), np.asarray(image))
    else:
        assert back.shape == image.shape and back.dtype == image.dtype

        def as64(x):
            return x.double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)

        tol = 0 if "uint8" in str(back.dtype) else 1 / 255 + (1e-2 if "bfloat16" in str(back.dtype) else 1e-3)
        np.testing.assert_allclose(as64(back), as64(image), atol=tol)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ("not an image", TypeError, "expected a PIL.Image"),
        (np.zeros((4, 4, 2), np.uint8), ValueError, "shape"),
        (np.zeros((4, 4, 3), np.int32), TypeError, "dtype int32"),
        (np.full((4, 4, 3), 255.0, np.float32), ValueError, "must be in \\[0, 1\\]"),
        (torch.zeros(5, 4, 4), ValueError, "CHW"),
        (np.full((4, 4, 3), np.nan, np.float32), ValueError, "NaN or infinite"),
        (torch.full((3, 4, 4), float("nan")), ValueError, "NaN or infinite"),
        (np.zeros((4, 4), np.uint16), TypeError, "16-bit or integer image"),
        (Image.fromarray(np.zeros((4, 4), np.uint16)), TypeError, "mode 'I;16'"),
        (Image.fromarray(np.zeros((4, 4), np.float32)), TypeError, "mode 'F'"),
    ],
)
def test_bad_images_get_clear_errors(bad, error, match):
    with pytest.raises(error, match=match):
        to_rgb(bad)


def test_split_batch_forms():
    assert split_batch(np.zeros((2, 8, 8, 3), np.uint8))[1] == "numpy"
    assert split_batch(torch.zeros(2, 3, 8, 8))[1] == "tensor"
    with pytest.raises(TypeError, match="wrap it in a list"):
        split_batch(Image.new("RGB", (8, 8)))


def test_a_datasets_column_is_a_list_of_images(make_dataset):
    from genie_transforms.images import split_batch

    ds = make_dataset(3)
    column = ds["image"]  # datasets 4 gives a lazy Column, not a list
    images, kind = split_batch(column)
    assert kind is None and len(images) == 3
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, ds[:3]["image"]))


def test_image_spec_is_to_rgbs_spec_without_the_conversion():
    from genie_transforms.images import image_spec, to_rgb

    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    forms = [
        hwc,
        hwc[..., 0],
        np.concatenate([hwc, hwc[..., :1]], axis=2),
        torch.from_numpy(hwc).permute(2, 0, 1),
        torch.from_numpy(hwc[..., :1]).permute(2, 0, 1),
        torch.from_numpy(np.concatenate([hwc, hwc[..., :1]], axis=2)).permute(2, 0, 1),
        torch.from_numpy(hwc[..., 0]),
        Image.fromarray(hwc),
        hwc.astype(np.float32) / 255,
    ]
    for image in forms:
        fast, full = image_spec(image), to_rgb(image)[1]
        assert (fast.kind, fast.height, fast.width, fast.channels, fast.dtype, fast.mode) == (
            full.kind,
            full.height,
            full.width,
            full.channels,
            full.dtype,
            full.mode,
        )
        assert (fast.alpha is None) == (full.alpha is None)
        if fast.alpha is not None:
            assert np.array_equal(fast.alpha, full.alpha)
