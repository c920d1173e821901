"""The label contract of both `GenieTransform`s, written once (pure functions, no model).

A label going in is one class index: a Python int, a numpy integer (or 0-d integer array), or a 0-d / one-element
integer tensor. Floats, strings and bools are refused, and so are indices outside the task's classes (`-1`,
`datasets`' "no label", included). A label coming out of a transform that did not apply is the object that went
in; one that did apply has the same type and shape, holding the target (hard labels), or is a float vector
(`label_mode="onehot"` or `"soft"`). [`EncodeLabel`]-style steps at the end of a pipeline turn every label into the
vector form, so that samples that skipped GenieTransform (inside `OneOf`, `RandomApply` ...) collate with the others.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

LABEL_MODES = ("hard", "onehot", "soft")


class LabelError(ValueError):
    """A label that breaks the contract (type, value, or a class the transform cannot serve)."""


def label_index(value: Any, num_classes: int | None = None, what: str = "label") -> int:
    """The class index held by `value`, or a `LabelError` that names the value and the fix."""
    item = value
    if type(value).__module__.startswith("torch") and hasattr(value, "numel"):
        if value.numel() != 1 or value.is_floating_point() or value.is_complex() or str(value.dtype) == "torch.bool":
            raise LabelError(
                f"The {what} must be one integer class index; got a tensor of shape "
                f"{tuple(value.shape)} and dtype {value.dtype}."
            )
        item = value.reshape(()).item()
    elif isinstance(value, np.ndarray):
        if value.size != 1 or not np.issubdtype(value.dtype, np.integer):
            raise LabelError(
                f"The {what} must be one integer class index; got an array of shape {value.shape} and "
                f"dtype {value.dtype}."
            )
        item = value.reshape(()).item()
    if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Integral):
        raise LabelError(
            f"The {what} must be an int class index, got {type(value).__name__} {value!r}; convert class names or "
            "float labels to indices before the transform."
        )
    index = int(item)
    if index < 0:
        raise LabelError(
            f"The {what} is {index}: no class (datasets' 'no label' is -1). Drop unlabelled samples "
            "before the transform."
        )
    if num_classes is not None and index >= num_classes:
        raise LabelError(f"The {what} is {index}, but the task has {num_classes} classes (0 to {num_classes - 1}).")
    return index


def like(original: Any, index: int) -> Any:
    """`index` in the type (and shape) of the label that went in: int, numpy integer or array, or tensor."""
    if type(original).__module__.startswith("torch") and hasattr(original, "numel"):
        import torch

        return torch.full_like(original, index)
    if isinstance(original, np.ndarray):
        return np.full_like(original, index)
    if isinstance(original, np.integer):
        return type(original)(index)
    return index


def label_vector(source: int, target: int | None, noise_ratio: float, mode: str, num_classes: int) -> np.ndarray:
    """A float32 vector label: one-hot of the target (`"onehot"`, or `"soft"` without a target), or `1 - r` on the
    source and `r` on the target (`"soft"`)."""
    vector = np.zeros(num_classes, dtype=np.float32)
    if target is None:
        vector[source] = 1.0
    elif mode == "soft":
        vector[source] += 1.0 - noise_ratio
        vector[target] += noise_ratio
    else:
        vector[target] = 1.0
    return vector


def as_vector(value: Any, num_classes: int) -> np.ndarray:
    """Any label in its vector form: a class index becomes its one-hot; a vector of `num_classes` floats is kept."""
    array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
    if array.ndim == 1 and array.size == num_classes and np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32)
    return label_vector(label_index(value, num_classes), None, 0.0, "onehot", num_classes)


def check_label_mode(mode: str) -> str:
    if mode not in LABEL_MODES:
        raise ValueError(f"`label_mode` must be one of {LABEL_MODES}, got {mode!r}.")
    return mode


__all__ = [
    "LABEL_MODES",
    "LabelError",
    "as_vector",
    "check_label_mode",
    "label_index",
    "label_vector",
    "like",
]
