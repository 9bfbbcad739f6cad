"""Atomic, pickle-free ``.npz`` writing and strict loading.

A crash or kill during :func:`write_npz_atomic` never leaves a half-written file at ``path``:
the arrays go to a temporary file in the same directory, which is flushed, fsynced and then
renamed over the target with :func:`os.replace` (atomic on POSIX and Windows). Temporary files
are named ``.<name>.<pid>-<random>.tmp``; one whose process is gone (a crash or SIGKILL) is
removed the next time that file is written. A write that fails (disk full, permissions) removes
its temporary file, leaves the previous file as it was and raises a one-line
:class:`OutputWriteError`. Output paths given by the user are checked before any work by
:func:`check_output_dir` / :func:`check_output_file`.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "ArtifactFileError",
    "OutputPathError",
    "OutputWriteError",
    "RowBlocks",
    "check_output_dir",
    "check_output_file",
    "json_array",
    "load_npz",
    "read_json_array",
    "remove_stale_temp_files",
    "staging_dir",
    "str_array",
    "write_npz_atomic",
    "write_text_atomic",
]


class ArtifactFileError(ValueError):
    """An ``.npz`` file is missing, unreadable, pickled or lacks required keys."""


class OutputPathError(ValueError):
    """An output path cannot be written (a file where a directory must be, ...): one line."""


class OutputWriteError(Exception):
    """Writing an output file failed (disk full, permissions); the previous file is intact.

    Not an OSError on purpose: beets prints OSErrors from commands as tracebacks."""


# -- output paths -----------------------------------------------------------------------------


def _check_ancestors(directory: Path, label: str) -> None:
    """``directory`` exists as a writable directory or can be created: the nearest existing
    ancestor must be a directory we can write into."""
    current = directory
    while not current.exists():
        if current.is_symlink():
            raise OutputPathError(f"{label}: {current} is a broken symbolic link")
        if current.parent == current:
            break
        current = current.parent
    if not current.is_dir():
        raise OutputPathError(f"{label}: {current} is not a directory")
    if not os.access(current, os.W_OK | os.X_OK):
        raise OutputPathError(f"{label}: {current} is not writable")


def check_output_dir(path: Path | str, what: str) -> Path:
    """Check that the directory ``path`` (named ``what`` in messages, e.g. ``--out-dir``) exists
    or can be created and written; raises :class:`OutputPathError`. Creates nothing."""
    directory = Path(path)
    label = f"{what} {directory}"
    if directory.exists() and not directory.is_dir():
        raise OutputPathError(f"{label}: is a file, expected a directory")
    _check_ancestors(directory, label)
    return directory


def check_output_file(path: Path | str, what: str, *, default_name: str | None = None) -> Path:
    """The file to write for the user's ``path``: checked that it can be written.

    A directory (existing, or given with a trailing slash) gets ``default_name`` inside it, or is
    an error without one. Raises :class:`OutputPathError`; creates nothing.
    """
    text = os.fspath(path)
    target = Path(text)
    label = f"{what} {text}"
    if text.endswith(("/", os.sep)) or target.is_dir():
        if default_name is None:
            raise OutputPathError(
                f"{label}: is a directory; give a file name, e.g. {target / 'playlist.m3u'}"
            )
        target = target / default_name
    elif target.exists() and not target.is_file():
        raise OutputPathError(f"{label}: exists and is not a regular file")
    _check_ancestors(target.parent, label)
    return target


# -- temporary files --------------------------------------------------------------------------

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)-[0-9a-f]+|[A-Za-z0-9_]{8,12})\.tmp$")
_LEGACY_TEMP_AGE = 3600.0  # seconds; names without a pid (older versions) after this long


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: exists, belongs to someone else
        return True
    return True


def remove_stale_temp_files(target: Path | str) -> list[Path]:
    """Remove temporary files of ``target`` that a crashed or killed writer left behind.

    Only names this module makes for ``target`` are touched; a temporary file whose writer is
    still running (its pid is alive) stays. Returns the removed paths.
    """
    target = Path(target)
    removed: list[Path] = []
    try:
        candidates = list(target.parent.glob(f".{target.name}.*.tmp"))
    except OSError:
        return removed
    now = time.time()
    for tmp in candidates:
        match = _TEMP.match(tmp.name)
        if match is None or match["name"] != target.name:
            continue
        try:
            if match["pid"] is not None:
                if _alive(int(match["pid"])):
                    continue
            elif now - tmp.stat().st_mtime < _LEGACY_TEMP_AGE:
                continue
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            continue
    return removed


_STAGING = re.compile(r"^\.staging-(?P<pid>\d+)-[0-9a-f]+$")


def staging_dir(parent: Path) -> Path:
    """A new folder ``.staging-<pid>-<random>`` in ``parent`` for files that are renamed into
    place together; folders of dead writers are removed first. Raises OutputWriteError."""
    try:
        for old in parent.glob(".staging-*"):
            match = _STAGING.match(old.name)
            if match is not None and old.is_dir() and not _alive(int(match["pid"])):
                shutil.rmtree(old, ignore_errors=True)
        folder = parent / f".staging-{os.getpid()}-{secrets.token_hex(6)}"
        folder.mkdir()
    except OSError as exc:
        raise _write_failed(parent, exc) from exc
    return folder


def _write_failed(target: Path, exc: OSError) -> OutputWriteError:
    cause = exc.strerror or str(exc)
    advice = "free space there and run again" if exc.errno == errno.ENOSPC else "check it"
    return OutputWriteError(
        f"cannot write {target}: {cause}; {advice} (the previous file, if any, is unchanged)"
    )


def _open_temp(target: Path) -> tuple[int, Path]:
    """A new temporary file beside ``target``, with the umask's permissions (not mkstemp's
    0600: the artifacts and playlists are read by other programs and users)."""
    remove_stale_temp_files(target)
    tmp = _temp_path(target)
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp


def json_array(value: object) -> np.ndarray:
    """Encode ``value`` as JSON in a 0-d numpy unicode array (loads without pickle)."""
    return np.array(json.dumps(value, ensure_ascii=False, sort_keys=True))


def read_json_array(array: np.ndarray, *, path: Path | str, key: str) -> Any:
    """Decode a 0-d unicode array written by :func:`json_array`; clear error otherwise."""
    if array.ndim != 0 or array.dtype.kind != "U":
        raise ArtifactFileError(f"{path}: '{key}' is not a 0-d unicode JSON string")
    try:
        return json.loads(str(array[()]))
    except json.JSONDecodeError as exc:
        raise ArtifactFileError(f"{path}: '{key}' is not valid JSON ({exc.msg})") from None


@dataclass(frozen=True)
class RowBlocks:
    """A C-order array of ``shape``/``dtype`` written without being held in memory whole:
    ``blocks()`` yields consecutive row blocks (each ``(n_i, *shape[1:])``, n_i summing to
    ``shape[0]``)."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    blocks: Callable[[], Iterable[np.ndarray]]


def write_npz_atomic(path: Path | str, **arrays: np.ndarray | RowBlocks) -> Path:
    """Write ``arrays`` to the uncompressed ``.npz`` file ``path`` atomically.

    Object arrays are refused, so the result always loads with ``allow_pickle=False``;
    :class:`RowBlocks` values are streamed. Returns the final path.
    """
    target = Path(path)
    for key, value in arrays.items():
        dtype = value.dtype if isinstance(value, RowBlocks) else np.asarray(value).dtype
        if dtype.kind == "O":
            raise ValueError(f"{target}: array '{key}' has dtype object (would need pickle)")
    tmp_name: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = _open_temp(target)
        with os.fdopen(fd, "wb") as handle:
            # The layout np.savez uses: stored (uncompressed) zip64 members "<key>.npy".
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for key, value in arrays.items():
                    with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                        if isinstance(value, RowBlocks):
                            _write_blocks(member, value, f"{target}: array '{key}'")
                        else:
                            np.lib.format.write_array(
                                member, np.asanyarray(value), allow_pickle=False
                            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        if tmp_name is not None:
            tmp_name.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_failed(target, exc) from exc
        raise
    _fsync_dir(target.parent)
    return target


def _write_blocks(member: IO[bytes], array: RowBlocks, label: str) -> None:
    header = {
        "descr": np.lib.format.dtype_to_descr(array.dtype),
        "fortran_order": False,
        "shape": array.shape,
    }
    np.lib.format.write_array_header_1_0(member, header)
    rows = 0
    for block in array.blocks():
        if block.dtype != array.dtype or block.shape[1:] != array.shape[1:]:
            raise ValueError(f"{label}: block {block.shape} {block.dtype} does not fit {array}")
        member.write(np.ascontiguousarray(block).tobytes())
        rows += block.shape[0]
    if rows != array.shape[0]:
        raise ValueError(f"{label}: blocks gave {rows} rows, expected {array.shape[0]}")


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not supported on every platform (e.g. Windows).
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def load_npz(
    path: Path | str, *, required: Iterable[str] = (), keys: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Load all (or only ``keys``) arrays of ``path`` with ``allow_pickle=False``.

    Raises :class:`ArtifactFileError` with a one-line message naming the file when it is
    missing, not an npz archive, contains pickled objects or lacks a ``required`` key.
    """
    source = Path(path)
    if not source.is_file():
        raise ArtifactFileError(f"{source}: file not found")
    if not zipfile.is_zipfile(source):
        # np.load would try to unpickle it and report a misleading cause.
        raise ArtifactFileError(f"{source}: unreadable (not an npz/zip archive)")
    try:
        with np.load(source, allow_pickle=False) as archive:
            names = set(archive.files)
            missing = [key for key in required if key not in names]
            if missing:
                raise ArtifactFileError(f"{source}: missing keys {', '.join(sorted(missing))}")
            wanted = names if keys is None else names & set(keys)
            return {key: archive[key] for key in sorted(wanted)}
    except ArtifactFileError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ArtifactFileError(
                f"{source}: contains pickled objects (refused, allow_pickle=False)"
            ) from None
        raise ArtifactFileError(f"{source}: unreadable ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactFileError(f"{source}: unreadable ({exc})") from None


def str_array(values: Iterable[str]) -> np.ndarray:
    """A (N,) numpy unicode array (never object dtype), also for an empty input."""
    items = list(values)
    return np.array(items, dtype=np.str_) if items else np.zeros(0, dtype="<U1")


def write_text_atomic(path: Path, text: str, *, errors: str = "strict") -> Path:
    """Write UTF-8 ``text`` to ``path`` via a temporary file and rename; returns ``path``.

    Like :func:`write_npz_atomic`: the umask's permissions, :class:`OutputWriteError` on
    failure with the previous file intact.
    """
    path = Path(path)
    tmp_path: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_path = _open_temp(path)
        with os.fdopen(fd, "w", encoding="utf-8", errors=errors, newline="\n") as handle:
            handle.write(text)
        os.replace(tmp_path, path)
    except BaseException as exc:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_failed(path, exc) from exc
        raise
    return path
