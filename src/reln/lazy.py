"""Packages whose public names are imported from their modules on first use.

``import reln`` or ``import reln.theory`` then costs nothing beyond the package itself: a name
that needs JAX imports JAX when it is first used, and a caller that needs none (the CLI's help, a
prediction) never pays for it.
"""

from __future__ import annotations

import importlib
import sys


def lazy_exports(package: str, exports: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for ``package``, whose public names live in ``exports``
    (name -> module); a name is imported once and then kept in the package's namespace.

    >>> getattr_, dir_ = lazy_exports("reln", {"RelnError": "reln.errors"})
    >>> getattr_("RelnError").__name__, "RelnError" in dir_()
    ('RelnError', True)
    """

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
