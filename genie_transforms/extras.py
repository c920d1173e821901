"""Optional and deferred imports: a clear message, with the pip command, when an extra is missing; public names
of a package imported on first use."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from importlib import import_module
from typing import Any


def require(package: str, module: str, extra: str) -> None:
    """Raise an ImportError naming `pip install "genie-transforms[extra]"` when `module` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise ImportError(
            f"This needs {package}, which genie-transforms installs with its {extra!r} extra: "
            f'pip install "genie-transforms[{extra}]".'
        )


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's `__getattr__` and `__dir__` that import each name of `exports` (name -> relative module) on first
    use, so that importing the package stays cheap (no torch or transformers until a name needs them)."""
    namespace = importlib.import_module(package).__dict__

    def getattr_(name: str) -> Any:
        if name in exports:
            value = getattr(import_module(exports[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(namespace.get("__all__", exports))

    return getattr_, dir_


__all__ = ["lazy_exports", "require"]
