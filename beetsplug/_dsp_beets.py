"""beets-side helpers shared by the dspipeline plugins: the `dspipeline:` config section,
the sidecar location, and turning beets albums into core records."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from beets import config
from beets.exceptions import UserError

from beetsplug._dspipeline.keys import album_key
from beetsplug._dspipeline.sidecar import AlbumRow, Sidecar, SidecarError

if TYPE_CHECKING:
    from beets.library import Album, Item, Library

config["dspipeline"].add({"sidecar": None, "out_dir": None})

TOKEN_MESSAGE = (
    "ERROR: Discogs token required for production pipeline.\n"
    "Set DISCOGS_TOKEN environment variable or add discogsgenres.token to your beets config.\n"
    "Get token from: https://www.discogs.com/settings/developers"
)

_sidecars: dict[Path, Sidecar] = {}
_sidecars_lock = threading.Lock()


def _library_dir(lib: Library) -> Path:
    path = os.fsdecode(lib.path)
    if path == ":memory:":
        return Path(config.config_dir())
    return Path(path).resolve().parent


def sidecar_path(lib: Library) -> Path:
    """`dspipeline.sidecar`, default `dspipeline.db` beside the library database."""
    view = config["dspipeline"]["sidecar"]
    if view.get() is not None:
        return Path(view.as_filename())
    return _library_dir(lib) / "dspipeline.db"


def out_dir(lib: Library) -> Path:
    """`dspipeline.out_dir`, default `ds_artifacts/` beside the library database."""
    view = config["dspipeline"]["out_dir"]
    if view.get() is not None:
        return Path(view.as_filename())
    return _library_dir(lib) / "ds_artifacts"


def open_sidecar(lib: Library) -> Sidecar:
    """The process-wide sidecar for this library (plugins and stage threads share it)."""
    path = sidecar_path(lib)
    with _sidecars_lock:
        sidecar = _sidecars.get(path)
        if sidecar is None:
            try:
                sidecar = _sidecars[path] = Sidecar(path)
            except SidecarError as exc:  # one line for the user, not a traceback
                raise UserError(str(exc)) from exc
        return sidecar


def peek_sidecar(lib: Library) -> Sidecar:
    """The sidecar if it exists, else an empty in-memory one: dry runs create nothing."""
    return open_sidecar(lib) if sidecar_path(lib).exists() else Sidecar(":memory:")


def model_id(model: Item | Album) -> int:
    """The row id of an item or album that is stored in the library."""
    if model.id is None:
        raise ValueError(f"{model} is not stored in the library")
    return int(model.id)


def album_row(album: Album) -> AlbumRow | None:
    """The sidecar row of a beets album; None when artist or title is missing."""
    artist = (album.albumartist or "").strip()
    title = (album.album or "").strip()
    if not artist or not title:
        return None
    year = int(album.year or 0) or None
    return AlbumRow(album_key(artist, title), int(model_id(album)), artist, title, year)
