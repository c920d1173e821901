import importlib.util

import numpy as np
import pytest

from genie_transforms.extras import require


def test_a_missing_extra_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a))
    with pytest.raises(ImportError, match=r'pip install "genie-transforms\[evaluation\]"'):
        require("scikit-learn", "sklearn", "evaluation")
    from genie_transforms.digits import digits_oracle

    digits_oracle.cache_clear()
    with pytest.raises(ImportError, match="scikit-learn"):
        digits_oracle()
    require("NumPy", "numpy", "core")  # present: nothing happens


def test_the_shipped_digits_are_scikit_learns():
    """The data file the package ships is exactly `sklearn.datasets.load_digits()` (the core needs no sklearn)."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    from genie_transforms.digits import digits_scans

    scans, labels = digits_scans()
    data = sklearn_datasets.load_digits()
    assert scans.dtype == np.uint8 and np.array_equal(scans, data.images) and np.array_equal(labels, data.target)
