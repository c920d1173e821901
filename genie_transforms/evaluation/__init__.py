"""Measuring what GeNIe does: label consistency over r, sample diversity (few-shot and long-tail protocols build
on these)."""

from .label_flip import label_flip_curve, sample_diversity

__all__ = ["label_flip_curve", "sample_diversity"]
