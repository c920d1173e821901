import numpy as np
import pytest
import torch

torchvision = pytest.importorskip("torchvision")

from genie_transforms.embedders import Embedder, embedder_from_spec, load_classifier_weights, torchvision_embedder


def test_a_fine_tuned_classifier_is_accepted_as_the_embedder(classifier_weights, rgb_images):
    """A checkpoint with a 10-class head (what GeNIe-Ada is meant to use) loads; only its pooled features count."""
    embedder = embedder_from_spec("torchvision:resnet18", classifier_weights)
    feats = embedder(rgb_images[:2])
    assert feats.shape == (2, 512) and np.allclose(np.linalg.norm(feats, axis=1), 1)
    assert load_classifier_weights("resnet18", classifier_weights).fc.out_features == 10
    with pytest.raises(ValueError, match="Unknown torchvision architecture"):
        load_classifier_weights("resnet999", classifier_weights)
    with pytest.raises(ValueError, match="does not fit torchvision's resnet34"):
        load_classifier_weights("resnet34", classifier_weights)
    with pytest.raises(ValueError, match="needs --embedder-weights"):
        embedder_from_spec("torchvision:resnet18")


def test_the_callers_model_is_not_modified(rgb_images):
    model = torchvision.models.resnet18(weights=None, num_classes=3)
    head = model.fc
    model.train()
    embedder = torchvision_embedder(model)
    feats = embedder(rgb_images[:2])
    assert model.fc is head and model.training  # its head and its mode are its own
    expected = (
        torch.nn.Sequential(*list(model.children())[:-1])
        .eval()(
            torch.stack([torch.from_numpy(np.asarray(im, np.float32) / 255).permute(2, 0, 1) for im in rgb_images[:2]])
        )
        .flatten(1)
        .detach()
        .numpy()
    )
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(feats, expected, atol=1e-5)
    model.train()
    with pytest.raises(ValueError, match="no fc/classifier/heads/head"):
        torchvision_embedder(torch.nn.Linear(3, 3))


def test_embedder_output_shape_is_checked(rgb_images):
    with pytest.raises(ValueError, match="returned shape"):
        Embedder(lambda x: x, name="bad")(rgb_images[:1])


def test_an_embedder_is_known_by_its_weights(classifier_weights):
    first = embedder_from_spec("torchvision:resnet18", classifier_weights)
    again = embedder_from_spec("torchvision:resnet18", classifier_weights)
    assert first.identity.startswith("weights:sha256:") and first.identity == again.identity
    with torch.no_grad():
        again.model.model.fc.bias.add_(0.01)  # retrained: the same name, other weights
    assert again.name == first.name and again.identity != first.identity
    assert Embedder(lambda batch: batch.flatten(1)).identity is None  # not a module: nothing to hash
