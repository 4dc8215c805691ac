"""Writing run outputs so that a failed or interrupted run never leaves a half-written file.

Every file is first written in full to a hidden temporary file in the output folder, and only when
all of them are complete are they renamed into place (``os.replace`` is atomic on POSIX). If
anything fails before that, the temporary files are removed and the folder is as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

Writer = Callable[[Path], None]


def write_all(out_dir: Path, writers: dict[str, Writer]) -> list[Path]:
    """Write every file of ``writers`` (name -> function writing to a given path) atomically.

    Returns:
        The final paths, in the order given.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, write in writers.items():
            handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
            os.close(handle)
            staged.append((Path(temporary), out_dir / name))
            write(Path(temporary))
            os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; results are for sharing
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, final in staged:
        os.replace(temporary, final)
    return [final for _, final in staged]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def json_writer(data) -> Writer:
    """A writer of ``data`` as indented JSON (NumPy scalars and arrays converted)."""

    def convert(value):
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"cannot write {type(value).__name__} to JSON")

    def write(path: Path) -> None:
        path.write_text(json.dumps(data, indent=2, default=convert) + "\n")

    return write


def npz_writer(arrays: dict[str, np.ndarray]) -> Writer:
    """A writer of named arrays as a compressed ``.npz``."""

    def write(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    return write


def figure_writer(figure, fmt: str = "png", dpi: int = 130, close: bool = True) -> Writer:
    """A writer of a matplotlib figure; closes the figure once saved (unless ``close`` is False)."""

    def write(path: Path) -> None:
        import matplotlib.pyplot as plt

        try:
            figure.savefig(path, format=fmt, dpi=dpi)
        finally:
            if close:
                plt.close(figure)

    return write


def figure_writers(stem: str, figure, formats: tuple[str, ...] = ("png", "pdf"), dpi: int = 130) -> dict[str, Writer]:
    """Writers of one figure in several formats, ``{stem.png: ..., stem.pdf: ...}``; the last
    one written closes the figure."""
    return {
        f"{stem}.{fmt}": figure_writer(figure, fmt, dpi, close=k == len(formats) - 1)
        for k, fmt in enumerate(formats)
    }
