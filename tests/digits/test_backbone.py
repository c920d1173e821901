"""The bundled backbone (`genie_transforms.digits.backbone`): a real classifier of the base digits, saved and loaded
as safetensors."""

import pytest
import torch

from genie_transforms.digits import DigitsBackbone, digits_arrays, load_digits_backbone


def test_the_bundled_backbone_classifies_the_base_digits_and_gives_features():
    backbone = load_digits_backbone()
    images, labels, _ = digits_arrays("heldout")
    base = labels < 5
    x = torch.from_numpy(images[base]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        accuracy = (backbone.classify(x).argmax(1).numpy() == labels[base]).mean()
        features = backbone(x[:4])
    assert accuracy > 0.9 and features.shape == (4, backbone.feature_dim) and not backbone.training


def test_save_and_load_round_trip(tmp_path):
    model = DigitsBackbone(feature_dim=16, num_classes=3)
    model.save(tmp_path / "b")
    back = load_digits_backbone(tmp_path / "b")
    assert (back.feature_dim, back.num_classes) == (16, 3)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))
    with pytest.raises(FileNotFoundError, match="train one with"):
        load_digits_backbone(tmp_path / "missing")
