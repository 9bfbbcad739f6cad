"""Atomic, pickle-free ``.npz`` writing and strict loading.

A crash or kill during :func:`write_npz_atomic` never leaves a half-written file at ``path``:
the arrays go to a temporary file in the same directory, which is flushed, fsynced and then
renamed over the target with :func:`os.replace` (atomic on POSIX and Windows).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "ArtifactFileError",
    "RowBlocks",
    "json_array",
    "load_npz",
    "read_json_array",
    "str_array",
    "write_npz_atomic",
    "write_text_atomic",
]


class ArtifactFileError(ValueError):
    """An ``.npz`` file is missing, unreadable, pickled or lacks required keys."""


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
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
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
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
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

    Unlike :func:`tempfile.mkstemp` (mode 0600) the file gets the usual permissions under the
    umask, so media servers can read the playlist.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", errors=errors, newline="\n") as handle:
            handle.write(text)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path
