"""Optional dependencies: a clear message, with the pip command, when an extra is missing."""

from __future__ import annotations

import importlib.util


def require(package: str, module: str, extra: str) -> None:
    """Raise an ImportError naming `pip install "genie-transforms[extra]"` when `module` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise ImportError(
            f"This needs {package}, which genie-transforms installs with its {extra!r} extra: "
            f'pip install "genie-transforms[{extra}]".'
        )


__all__ = ["require"]
