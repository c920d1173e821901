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
        tol = 1 / 255 if back.dtype in (np.float32, torch.float32) else 0
        np.testing.assert_allclose(np.asarray(back, dtype=np.float64), np.asarray(image, dtype=np.float64), atol=tol)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ("not an image", TypeError, "expected a PIL.Image"),
        (np.zeros((4, 4, 2), np.uint8), ValueError, "shape"),
        (np.zeros((4, 4, 3), np.int32), TypeError, "dtype int32"),
        (np.full((4, 4, 3), 255.0, np.float32), ValueError, "must be in \\[0, 1\\]"),
        (torch.zeros(5, 4, 4), ValueError, "CHW"),
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
