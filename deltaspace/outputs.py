"""Where a command writes: checked before any work, so a bad ``-o`` is one line, not a traceback.

A leaf module (it imports only the error root), used by ``report -o`` and ``export -o``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DeltaspaceError


def writable_file(path: str | Path, option: str = "-o") -> Path:
    """``path`` as a file that can be written (created or replaced); its folder is created."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise DeltaspaceError(
            f"{option} {path}: is a directory; give a file name (e.g. {path / 'report.html'})"
        )
    _make_folder(path.parent, option, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise DeltaspaceError(f"{option} {path}: the file exists and cannot be written")
    if not os.access(path.parent, os.W_OK):
        raise DeltaspaceError(f"{option} {path}: cannot write in {path.parent}")
    return path


def writable_folder(path: str | Path, option: str = "-o") -> Path:
    """``path`` as a folder that can be written into; created when missing."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise DeltaspaceError(f"{option} {path}: is a file; this command writes a folder")
    _make_folder(path, option, path)
    if not os.access(path, os.W_OK):
        raise DeltaspaceError(f"{option} {path}: cannot write in this folder")
    return path


def _make_folder(folder: Path, option: str, target: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DeltaspaceError(f"{option} {target}: {_first_file(folder)} is a file, not a folder") from None
    except OSError as exc:
        raise DeltaspaceError(f"{option} {target}: cannot create {folder}: {exc.strerror or exc}") from None


def _first_file(folder: Path) -> Path:
    for parent in reversed((folder, *folder.parents)):
        if parent.exists() and not parent.is_dir():
            return parent
    return folder


def write_text(path: Path, text: str, option: str = "-o") -> None:
    """Write ``text``; a failure on the way (disk full, permissions) is one line naming the file."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DeltaspaceError(f"{option} {path}: writing failed: {exc.strerror or exc}") from None
