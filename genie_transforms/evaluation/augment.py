"""Classic augmentations for the baselines of the few-shot protocol, in PIL and numpy (no extra dependency).

Every function takes a numpy `Generator`, so the baselines are reproducible under the episode's seed.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


def random_resized_crop(
    image: Image.Image, rng: np.random.Generator, scale: tuple[float, float] = (0.2, 1.0), flip: bool = True
) -> Image.Image:
    """The weak augmentation: a random crop of `scale` of the area (aspect 3/4 to 4/3) resized back, and a
    horizontal flip half of the time (`flip=False` for data where a mirror changes the class, such as digits)."""
    w, h = image.size
    for _ in range(10):
        area = w * h * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw, ch = round(np.sqrt(area * aspect)), round(np.sqrt(area / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            image = image.crop((x, y, x + cw, y + ch)).resize((w, h), Image.Resampling.BILINEAR)
            break
    if flip and rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


def strong(
    image: Image.Image, rng: np.random.Generator, scale: tuple[float, float] = (0.2, 1.0), flip: bool = True
) -> Image.Image:
    """The strong augmentation: the weak one, then colour jitter (brightness, contrast, saturation 0.4), a rotation
    up to 15 degrees and, half of the time, a Gaussian blur."""
    image = random_resized_crop(image, rng, scale, flip)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhance(image).enhance(rng.uniform(0.6, 1.4))
    image = image.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.1, 1.0)))
    return image


def mixup(a: Image.Image, b: Image.Image, rng: np.random.Generator) -> Image.Image:
    """MixUp of two images with `lam ~ U(0.5, 1)` on `a`, so that `a`'s class stays the (hard) label."""
    lam = rng.uniform(0.5, 1.0)
    mixed = lam * np.asarray(a, np.float32) + (1 - lam) * np.asarray(b.resize(a.size), np.float32)
    return Image.fromarray(np.clip(mixed + 0.5, 0, 255).astype(np.uint8))


def cutmix(a: Image.Image, b: Image.Image, rng: np.random.Generator) -> Image.Image:
    """CutMix: a box of `b` covering at most half of `a` is pasted on `a` (`a`'s class stays the label)."""
    w, h = a.size
    cut = np.sqrt(rng.uniform(0.0, 0.5))
    cw, ch = max(1, int(w * cut)), max(1, int(h * cut))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    out = a.copy()
    out.paste(b.resize(a.size).crop((x, y, x + cw, y + ch)), (x, y))
    return out


__all__ = [
    "cutmix",
    "mixup",
    "random_resized_crop",
    "strong",
]
