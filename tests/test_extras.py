import importlib.util

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
