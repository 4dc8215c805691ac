"""Where a result came from: the package's source hash, the software and machine it ran on.

Every run records :func:`environment` in ``config.json`` and ``metrics.json``, and its folder's
``manifest.json`` lists each file with its size and SHA-256 (:func:`file_digest`), so a result can
be checked against the files on disk and the code that made it (the ``reln reproduce`` cache does
both before it reuses anything).
"""

from __future__ import annotations

import functools
import hashlib
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DEPENDENCIES = ("jax", "jaxlib", "numpy", "scipy", "scikit-learn", "matplotlib")


def package_version(name: str = "reln") -> str:
    """The installed version of a distribution, or ``"unknown"`` when it is not installed.

    Args:
        name: the distribution's name.

    Returns:
        Its version string.
    """
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 over the package's own source: every ``.py`` and ``.toml`` file under ``reln/``,
    by relative path and content, in a fixed order. Any edit to the code or a preset changes it.

    Returns:
        The hex digest.
    """
    root = Path(__file__).resolve().parents[1]  # the reln package, above experiment/
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".toml") and p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of one file's bytes.

    Args:
        path: the file.

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux; ``platform`` elsewhere).

    Returns:
        A description such as ``"Intel(R) Xeon(R) Processor"``, or ``"unknown"``.
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment(x64: bool | None = None) -> dict:
    """The software and machine of a run, for ``config.json`` and ``metrics.json``.

    Args:
        x64: whether the run trained in float64 (``None``: not recorded).

    Returns:
        ``reln_version``, ``source_hash``, ``python``, one entry per dependency of
        :data:`DEPENDENCIES`, ``platform``, ``cpu`` and, when given, ``float_precision``.
    """
    info = {
        "reln_version": package_version(),
        "source_hash": source_hash(),
        "python": sys.version.split()[0],
        **{name: package_version(name) for name in DEPENDENCIES},
        "platform": platform.platform(),
        "cpu": cpu_model(),
    }
    if x64 is not None:
        info["float_precision"] = "float64" if x64 else "float32"
    return info
