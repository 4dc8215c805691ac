"""Where compiled XLA programs are kept on disk, so a repeated run or a sweep's next point skips
compilation.

Process-wide JAX settings belong to the application, not the library: the command line calls
:func:`use_compilation_cache` for its own process, and a sweep for each of its workers.
"""

from __future__ import annotations

import os
from pathlib import Path


def compilation_cache_folder(environ=os.environ) -> str | None:
    """``RELN_CACHE_DIR``, or ``~/.cache/reln/xla``; ``None`` when ``RELN_CACHE_DIR=""`` turns it off.

    >>> compilation_cache_folder({"RELN_CACHE_DIR": ""}) is None
    True
    >>> compilation_cache_folder({"RELN_CACHE_DIR": "/tmp/xla"})
    '/tmp/xla'
    """
    folder = environ.get("RELN_CACHE_DIR", str(Path.home() / ".cache" / "reln" / "xla"))
    return folder or None


def use_compilation_cache(folder: str | None) -> None:
    """Make this process's JAX keep every compiled program in ``folder`` (nothing for ``None``).

    Before JAX is imported this only sets the environment variables JAX reads its defaults from
    (``JAX_COMPILATION_CACHE_DIR``, ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``), so that a
    command which never trains (``reln --help``, a config error) does not pay JAX's import.
    """
    if not folder:
        return
    import sys

    if "jax" in sys.modules:
        import jax

        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    else:
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", folder)
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
