"""Writing run outputs so that a run's files replace the previous ones as a whole, or not at all.

:func:`write_all` writes every file of a run into a hidden temporary folder beside the output
folder, adds ``manifest.json`` (each file with its size and SHA-256, the package version and
source hash), and only then swaps that folder in for the output folder in two renames, with
SIGINT and SIGTERM held off between them. An exception or a signal before the swap removes the
temporary folder and leaves the output folder exactly as it was; after the swap the folder holds
only what the new manifest lists. A folder that exists, is not empty and has no manifest is not a
reln result and is never replaced (:func:`check_output_folder`, also called before training).

:func:`write_files` writes single files into a folder that holds other things (the index page of
``reln reproduce`` beside its experiment folders), each renamed into place once all are complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from reln.errors import RelnError

Writer = Callable[[Path], None]
MANIFEST = "manifest.json"
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_file_names(folder: Path, names) -> None:
    """Every output name is a plain file name that stays inside ``folder``."""
    for name in names:
        if not _FILE_NAME.fullmatch(name) or ".." in name or (folder / name).resolve().parent != folder.resolve():
            raise RelnError(
                f"output file name '{name}' is not a plain file name (letters, digits, '_', '-', '.'); "
                "model names must not hold '/' or '..'"
            )


def metrics_schema() -> dict:
    """The JSON Schema (draft 2020-12) of ``metrics.json``, shipped with the package.

    >>> metrics_schema()["required"]
    ['task', 'conventions', 'environment']
    """
    import importlib.resources

    return json.loads((importlib.resources.files("reln") / "schemas" / "metrics.schema.json").read_text())


def check_output_folder(out_dir: Path) -> Path:
    """Check, before any work, that ``out_dir`` can take a run's files; return it resolved.

    It must be a new folder, an empty one, or a previous result (it holds ``manifest.json``), and
    its parent must be writable (or creatable).

    Args:
        out_dir: the output folder.

    Returns:
        The absolute, resolved folder.
    """
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise RelnError(f"output folder '{out_dir}' is a file; give a folder with --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise RelnError(
            f"output folder '{out_dir}' is not empty and holds no {MANIFEST}, so it is not a reln result "
            "and will not be replaced; give a new or empty folder with --out"
        )
    parent = out_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RelnError(f"cannot write the output folder '{out_dir}': '{parent}' is not writable")
    return out_dir


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def manifest(folder: Path, names) -> dict:
    """The ``manifest.json`` document of the files ``names`` in ``folder``.

    Args:
        folder: where the files are.
        names: their names.

    Returns:
        ``{"files": {name: {"bytes": n, "sha256": hex}}, "reln_version": ..., "source_hash": ...}``.
    """
    from reln.experiment.provenance import file_digest, package_version, source_hash

    files = {name: {"bytes": (folder / name).stat().st_size, "sha256": file_digest(folder / name)} for name in names}
    return {"files": dict(sorted(files.items())), "reln_version": package_version(), "source_hash": source_hash()}


def verify_manifest(folder: Path) -> dict | None:
    """The folder's manifest when every file it lists is there with its size and hash and the
    folder holds nothing else; ``None`` otherwise.

    Args:
        folder: a result folder.

    Returns:
        The parsed manifest, or ``None``.
    """
    from reln.experiment.provenance import file_digest

    try:
        written = json.loads((Path(folder) / MANIFEST).read_text())
        files = written["files"]
        present = {p.name for p in Path(folder).iterdir()} - {MANIFEST}
        if not isinstance(files, dict) or not files or present != set(files):
            return None
        for name, entry in files.items():
            path = Path(folder) / name
            if path.stat().st_size != entry["bytes"] or file_digest(path) != entry["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return written


class _SignalsHeld:
    """Hold SIGINT and SIGTERM off (delivered on exit) in the main thread."""

    SIGNALS = {signal.SIGINT, signal.SIGTERM}

    def __enter__(self):
        self.held = hasattr(signal, "pthread_sigmask")
        if self.held:
            self.previous = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        return self

    def __exit__(self, *exc):
        if self.held:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.previous)
        return False


def write_all(out_dir: Path, writers: dict[str, Writer]) -> list[Path]:
    """Write a run's files (name -> function writing to a given path) as one folder that replaces
    ``out_dir`` as a whole, with a ``manifest.json``.

    Args:
        out_dir: the output folder: new, empty, or a previous result.
        writers: file name -> writer.

    Returns:
        The final paths of the writers' files, in the order given (``manifest.json`` beside them).
    """
    out_dir = check_output_folder(out_dir)
    if MANIFEST in writers:
        raise RelnError(f"'{MANIFEST}' is written by write_all itself")
    _check_file_names(out_dir, writers)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".new", dir=out_dir.parent))
    retired = None
    try:
        for name, write in writers.items():
            write(staging / name)
        (staging / MANIFEST).write_text(json.dumps(manifest(staging, writers), indent=2) + "\n")
        for path in staging.iterdir():
            os.chmod(path, 0o666 & ~_umask())
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700; results are for sharing
        with _SignalsHeld():
            if out_dir.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
                os.replace(out_dir, retired / out_dir.name)
            os.replace(staging, out_dir)
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [out_dir / name for name in writers]


def write_files(out_dir: Path, writers: dict[str, Writer]) -> list[Path]:
    """Write single files into a folder that holds other things: each in full to a hidden
    temporary file, then all renamed into place; on any failure the temporary files are removed.

    Args:
        out_dir: the folder (created if missing).
        writers: file name -> writer.

    Returns:
        The final paths, in the order given.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_file_names(out_dir, writers)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, write in writers.items():
            handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
            os.close(handle)
            staged.append((Path(temporary), out_dir / name))
            write(Path(temporary))
            os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; results are for sharing
        with _SignalsHeld():
            for temporary, final in staged:
                os.replace(temporary, final)
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
    return [final for _, final in staged]


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


def npz_writer(arrays: dict[str, np.ndarray], level: int = 1) -> Writer:
    """A writer of named arrays as a compressed ``.npz`` (what ``np.load`` reads), deflated at
    zlib ``level``: 1, the fastest, compresses a run's gates and curves about as well as the
    default 6 in a fraction of the time.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.npz"
    >>> npz_writer({"x": np.arange(3)})(path)
    >>> np.load(path)["x"].tolist()
    [0, 1, 2]
    """
    import zipfile

    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
            for name, value in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)

    return write


FIGURE_FORMATS = ("png", "pdf", "svg")


def check_figure_formats(formats) -> tuple[str, ...]:
    """Figure formats as given (``("png",)``, ``"png,pdf"``): a non-empty subset of
    :data:`FIGURE_FORMATS`, lower case, or one clear error.

    >>> check_figure_formats("png, PDF")
    ('png', 'pdf')
    """
    given = formats.split(",") if isinstance(formats, str) else list(formats)
    cleaned = tuple(f.strip().lower() for f in given if f.strip())
    if not cleaned or any(f not in FIGURE_FORMATS for f in cleaned):
        raise RelnError(f"figure formats are a comma-separated subset of {','.join(FIGURE_FORMATS)}, got {formats!r}")
    return cleaned


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


def _lay_out(figure, dpi: int) -> None:
    """Run the figure's layout engine (constrained layout) once, measuring text at ``dpi``.

    This is what ``savefig`` does in a draw of its own before the draw that prints; here the
    engine runs alone, with the figure at the resolution of the raster file as ``savefig`` would
    set it, so the positions are the same and no artist is drawn for it. A figure without an
    engine is left as it is.

    Args:
        figure: a matplotlib figure.
        dpi: the resolution the layout is measured at (that of the raster file).
    """
    engine = figure.get_layout_engine()
    if engine is None:
        return
    original = figure.dpi
    figure.dpi = dpi
    try:
        engine.execute(figure)
    except ValueError:  # as in Figure.draw, which ignores it too
        pass
    finally:
        figure.dpi = original


def _save_laid_out(figure, path: Path, fmt: str, dpi: int) -> None:
    """Save a figure at the positions its layout engine last gave it, without running it again.

    With an engine in force ``savefig`` draws the figure twice (once to run the engine, once to
    print); with no engine for this save (``None``: ``"none"`` would leave a placeholder engine,
    and the extra draw) it is printed once, as laid out. The engine is put back afterwards.

    Args:
        figure: a figure laid out since it last changed (:func:`_lay_out`).
        path: the file to write.
        fmt: its format.
        dpi: its resolution (of images, in vector formats).
    """
    import matplotlib

    engine = figure.get_layout_engine()
    with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        figure.set_layout_engine(None)  # with both settings off: no engine at all
    try:
        figure.savefig(path, format=fmt, dpi=dpi)
    finally:
        figure.set_layout_engine(engine)


def figure_writers(stem: str, figure, formats: tuple[str, ...] = ("png", "pdf"), dpi: int = 130) -> dict[str, Writer]:
    """Writers of one figure in several formats, ``{stem.png: ..., stem.pdf: ...}``; the last
    one written closes the figure.

    The layout (constrained layout, the costly part of saving) is computed once, by the first
    writer called, at ``dpi`` (:func:`_lay_out`), and every file is printed at those positions
    (:func:`_save_laid_out`): the PNG is the one a plain ``savefig`` writes, and the PDF shows the
    same arrangement. The figure must not change between the writers' calls.

    Args:
        stem: the file name without its suffix.
        figure: a matplotlib figure.
        formats: the formats, in the order written.
        dpi: resolution of raster output, and of the layout.

    Returns:
        ``{f"{stem}.{fmt}": writer}`` in the order of ``formats``.
    """
    laid_out = []  # set by the first writer called, shared by all of them

    def writer(fmt: str, close: bool) -> Writer:
        def write(path: Path) -> None:
            import matplotlib.pyplot as plt

            try:
                if not laid_out:
                    _lay_out(figure, dpi)
                    laid_out.append(True)
                _save_laid_out(figure, path, fmt, dpi)
            finally:
                if close:
                    plt.close(figure)

        return write

    return {f"{stem}.{fmt}": writer(fmt, k == len(formats) - 1) for k, fmt in enumerate(formats)}
