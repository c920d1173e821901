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


def test_packages_import_their_public_names_on_first_use():
    """`import genie_transforms` and resolving the bundled model's folder load neither torch nor transformers."""
    import subprocess
    import sys

    script = (
        "import sys, genie_transforms, genie_transforms.digits.assets as a, genie_transforms.digits as d;"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'eager';"
        "assert d.MODEL_DIR == a.MODEL_DIR and 'load_digits_backbone' in dir(d) and 'torch' not in sys.modules;"
        "assert genie_transforms.PromptMap.__module__ == 'genie_transforms.prompts';"
        "d.load_digits_backbone; assert 'torch' in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    import genie_transforms

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        genie_transforms.nope
