"""The label contract of both transforms (`genie_transforms.labels`): what goes in, what comes out."""

import numpy as np
import pytest
import torch

from genie_transforms.labels import LabelError, as_vector, check_label_mode, label_index, label_vector, like


@pytest.mark.parametrize(
    "value", [3, np.int64(3), np.array(3), np.array([3], np.int32), torch.tensor(3), torch.tensor([3])]
)
def test_one_integer_class_index_in_any_common_form_is_read(value):
    assert label_index(value, 5) == 3 and type(label_index(value, 5)) is int


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (3.0, "must be an int class index, got float"),
        ("cat", "convert class names"),
        (True, "got bool"),
        (np.array([1, 2]), r"array of shape \(2,\)"),
        (np.array(1.0), "dtype float64"),
        (torch.tensor([1, 2]), r"tensor of shape \(2,\)"),
        (torch.tensor(True), "torch.bool"),
        (-1, "datasets' 'no label' is -1"),
        (5, r"task has 5 classes \(0 to 4\)"),
    ],
)
def test_anything_else_is_refused_with_the_value_and_the_fix(value, match):
    with pytest.raises(LabelError, match=match):
        label_index(value, 5)
    assert issubclass(LabelError, ValueError)


def test_the_target_comes_back_in_the_type_and_shape_that_went_in():
    assert like(1, 4) == 4 and type(like(1, 4)) is int
    assert type(like(np.int32(1), 4)) is np.int32 and like(np.int32(1), 4) == 4
    out = like(np.array([1], np.int16), 4)
    assert out.dtype == np.int16 and out.shape == (1,) and out[0] == 4
    tensor = like(torch.tensor([1]), 4)
    assert tensor.dtype == torch.int64 and tensor.shape == (1,) and tensor.item() == 4


def test_vector_labels():
    np.testing.assert_array_equal(label_vector(0, 2, 0.8, "onehot", 3), [0, 0, 1])
    np.testing.assert_allclose(label_vector(0, 2, 0.8, "soft", 3), [0.2, 0, 0.8])
    np.testing.assert_array_equal(label_vector(1, None, 0.8, "soft", 3), [0, 1, 0])  # not applied: its own class
    assert label_vector(0, 2, 0.8, "soft", 3).dtype == np.float32


def test_as_vector_encodes_indices_and_keeps_vectors():
    np.testing.assert_array_equal(as_vector(torch.tensor(2), 3), [0, 0, 1])
    kept = as_vector(torch.tensor([0.25, 0.75, 0.0], dtype=torch.float64), 3)
    assert kept.dtype == np.float32 and np.allclose(kept, [0.25, 0.75, 0.0])
    with pytest.raises(LabelError, match="task has 3 classes"):
        as_vector(7, 3)


def test_label_modes_are_checked():
    assert check_label_mode("soft") == "soft"
    with pytest.raises(ValueError, match=r"`label_mode` must be one of \('hard', 'onehot', 'soft'\), got 'smooth'"):
        check_label_mode("smooth")
