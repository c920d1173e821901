"""Image conversions between the forms users hold (PIL, HWC numpy, CHW tensors) and the model's input."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps

ACCEPTED = "a PIL.Image, an HWC numpy array (uint8, or float in [0, 1]) or a CHW torch tensor"
_HIGH_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")


@dataclass(frozen=True)
class ImageSpec:
    """How an input image was held, so that the output can be given back in the same form and size."""

    kind: str  # "pil" | "numpy" | "tensor"
    height: int
    width: int
    channels: int  # 1, 3 or 4; 0 for a 2-D (H, W) array or tensor
    dtype: str  # "uint8", or the float dtype given back ("float16", "float32", "float64", "bfloat16")
    mode: str | None = None  # PIL mode
    alpha: np.ndarray | None = None  # the input's alpha channel (uint8, H x W), put back on output


def _check_float_range(array: np.ndarray, what: str) -> None:
    if array.size and not np.isfinite(array).all():
        raise ValueError(f"{what} has NaN or infinite pixels; replace them (e.g. np.nan_to_num) before generating.")
    if array.size and (float(array.min()) < -1e-3 or float(array.max()) > 1 + 1e-3):
        raise ValueError(
            f"{what} is float with values in [{float(array.min()):.3g}, {float(array.max()):.3g}]; float images "
            "must be in [0, 1]. Divide by 255, or pass uint8."
        )


def _from_hwc(array: np.ndarray, kind: str, what: str, float_dtype: str | None = None) -> tuple[Image.Image, ImageSpec]:
    """PIL RGB image and spec from an (H, W) or (H, W, C) array (uint8, or float in [0, 1])."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        layout = "(H, W), (H, W, 1), (H, W, 3) or (H, W, 4)" if kind == "numpy" else "(H, W), (1|3|4, H, W)"
        raise ValueError(f"{what} has shape {tuple(array.shape)}; expected {layout}.")
    if array.dtype == np.uint8:
        dtype = "uint8"
    elif np.issubdtype(array.dtype, np.floating):
        _check_float_range(array, what)
        dtype = float_dtype or str(array.dtype)
        array = (np.clip(array.astype(np.float64), 0, 1) * 255 + 0.5).astype(np.uint8)
    elif array.dtype in (np.uint16, np.int32, np.int64, np.uint32):
        raise TypeError(
            f"{what} has dtype {array.dtype} (a 16-bit or integer image); GeNIe works on 8-bit images. Convert it "
            "first, e.g. (image / 257).astype(np.uint8) for 16-bit, or pass float in [0, 1]."
        )
    else:
        raise TypeError(f"{what} has dtype {array.dtype}; use uint8 (0-255) or float in [0, 1].")
    channels = 0 if array.ndim == 2 else array.shape[2]
    alpha = array[..., 3].copy() if channels == 4 else None
    rgb = np.repeat(array[..., None], 3, axis=2) if channels == 0 else array
    rgb = np.repeat(rgb, 3, axis=2) if channels == 1 else rgb[..., :3]
    spec = ImageSpec(kind, array.shape[0], array.shape[1], channels, dtype, alpha=alpha)
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB"), spec


def to_rgb(image: object, what: str = "image") -> tuple[Image.Image, ImageSpec]:
    """Convert one image to an RGB PIL image and remember its original form."""
    if isinstance(image, Image.Image):
        if image.mode in _HIGH_DEPTH_MODES:
            raise TypeError(
                f"{what} is a PIL image in mode {image.mode!r} (16-bit, 32-bit or float pixels); GeNIe works on 8-bit "
                "images. Convert it first, e.g. Image.fromarray((np.asarray(image) / 257).astype(np.uint8)) for I;16."
            )
        alpha = np.asarray(image.getchannel("A")).copy() if image.mode in ("RGBA", "LA") else None
        spec = ImageSpec("pil", image.height, image.width, 0, "uint8", mode=image.mode, alpha=alpha)
        return image.convert("RGB"), spec
    if isinstance(image, np.ndarray):
        return _from_hwc(image, "numpy", what)
    if isinstance(image, torch.Tensor):
        array = image.detach().cpu()
        if array.ndim == 3:
            if array.shape[0] not in (1, 3, 4):
                raise ValueError(
                    f"{what} is a tensor of shape {tuple(array.shape)}; expected CHW with 1, 3 or 4 channels."
                )
            array = array.permute(1, 2, 0)
        float_dtype = str(array.dtype).removeprefix("torch.") if array.is_floating_point() else None
        if array.is_floating_point():
            array = array.float()
        img, spec = _from_hwc(array.numpy(), "tensor", what, float_dtype)
        return img, spec
    raise TypeError(f"{what} is a {type(image).__name__}; expected {ACCEPTED}.")


def image_spec(image: object, what: str = "image") -> ImageSpec:
    """The form, size and channels of an image, as [`to_rgb`] records them, without converting its pixels (for
    giving back a stored image in the form of the one it replaces)."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim in (2, 3):
        channels = 0 if image.ndim == 2 else image.shape[2]
        if channels in (0, 1, 3, 4):
            alpha = image[..., 3].copy() if channels == 4 else None
            return ImageSpec("numpy", image.shape[0], image.shape[1], channels, "uint8", alpha=alpha)
    if isinstance(image, torch.Tensor) and image.dtype == torch.uint8 and image.ndim in (2, 3):
        channels = 0 if image.ndim == 2 else image.shape[0]
        if channels in (1, 3, 4):
            alpha = image[3].cpu().numpy().copy() if channels == 4 else None
            return ImageSpec("tensor", image.shape[-2], image.shape[-1], channels, "uint8", alpha=alpha)
        if channels == 0:
            return ImageSpec("tensor", image.shape[0], image.shape[1], 0, "uint8")
    return to_rgb(image, what)[1]  # PIL images, floats and anything to check: the full path


def fit_square(image: Image.Image, resolution: int) -> Image.Image:
    """Resize the shorter side to `resolution` and centre-crop a square (the paper's preprocessing)."""
    return ImageOps.fit(image, (resolution, resolution), method=Image.Resampling.BICUBIC)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image as a float CHW tensor in [0, 1]."""
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """A float CHW tensor in [0, 1] as an RGB PIL image."""
    array = (tensor.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(array, "RGB")


def content_hash(image: Image.Image) -> str:
    """A short hex digest of an image's pixels (used as the default source id and as the latent cache key)."""
    return hashlib.sha256(image.tobytes() + f"{image.size}".encode()).hexdigest()[:16]


def restore(image: Image.Image | np.ndarray, spec: ImageSpec) -> object:
    """Give an RGB image (PIL, or an HWC uint8 array) back in the form, size and channel layout of the input; a size
    that differs is resized bicubic (resize first to use another filter)."""
    if isinstance(image, np.ndarray) and (
        image.shape[:2] != (spec.height, spec.width) or spec.kind == "pil" or spec.channels in (0, 1)
    ):
        image = Image.fromarray(image, "RGB")
    if isinstance(image, Image.Image):
        if image.size != (spec.width, spec.height):
            image = image.resize((spec.width, spec.height), Image.Resampling.BICUBIC)
        if spec.kind == "pil":
            if spec.alpha is not None:
                out = image.convert(spec.mode)
                out.putalpha(Image.fromarray(spec.alpha))
                return out
            if spec.mode == "P":  # a palette of the new image's own colours
                return image.convert("P", palette=Image.Palette.ADAPTIVE)
            return image.convert(spec.mode)  # L, RGB, CMYK, "1", YCbCr, ...: the mode it came in
        if spec.channels in (0, 1):
            array = np.asarray(image.convert("L"))
            array = array if spec.channels == 0 else array[..., None]
        else:
            array = np.asarray(image)
    else:
        array = image  # already RGB at the input's size
    if spec.alpha is not None:
        array = np.concatenate([array, spec.alpha[..., None]], axis=2)
    if spec.dtype != "uint8":
        array = array.astype(np.float32) / 255.0
    if spec.kind == "numpy":
        return np.require(array.astype(spec.dtype, copy=False), requirements=["C", "W"])  # the caller's own
    if array.ndim == 3:
        array = array.transpose(2, 0, 1)
    tensor = torch.from_numpy(np.require(array, requirements=["C", "W"]))  # a copy unless already its own
    if spec.dtype != "uint8":
        tensor = tensor.to(getattr(torch, spec.dtype))
    return tensor


def split_batch(images: object) -> tuple[list, str | None]:
    """A list of single images, and the batch form ("numpy" for NHWC, "tensor" for NCHW) if one was given."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images), "numpy"
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        return list(images), "tensor"
    if isinstance(images, (Image.Image, np.ndarray, torch.Tensor)):
        raise TypeError(
            "`images` must be a list of images, an NHWC numpy array or an NCHW tensor; for one image, "
            "wrap it in a list: generate([image], ...)."
        )
    if isinstance(images, (list, tuple)):
        return list(images), None
    if type(images).__name__ == "Column" and type(images).__module__.startswith("datasets"):
        return list(images), None  # type: ignore[call-overload]  # a `datasets` Column (ds["image"]), read once
    raise TypeError(f"`images` is a {type(images).__name__}; expected a list of images ({ACCEPTED}).")


def join_batch(images: list, batch_kind: str | None) -> object:
    """Undo [`split_batch`]: stack the outputs back into an array or tensor if the input was one."""
    if batch_kind == "numpy":
        return np.stack(images)
    if batch_kind == "tensor":
        return torch.stack(images)
    return images


__all__ = [
    "ACCEPTED",
    "ImageSpec",
    "content_hash",
    "fit_square",
    "join_batch",
    "pil_to_tensor",
    "restore",
    "split_batch",
    "tensor_to_pil",
    "to_rgb",
]
