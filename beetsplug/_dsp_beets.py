"""beets-side glue shared by the dspipeline plugins: configuration (with the defaults of every
plugin, so `buildartifacts` works with any of them enabled), the sidecar location, and the one
place that turns beets Items and Albums into core records (one album-key rule for all), and
the checks every command makes first: the whole config against its templates, core errors
turned into beets' one-line `UserError`."""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import confuse
from beets import config, ui
from beets.exceptions import UserError

from beetsplug._dspipeline.config_schema import SCHEMA, validate
from beetsplug._dspipeline.keys import album_key
from beetsplug._dspipeline.npzio import OutputPathError, OutputWriteError, check_output_dir
from beetsplug._dspipeline.sidecar import (
    DISCOGS_GENRE_SOURCE,
    DISCOGS_STYLE_SOURCE,
    AlbumRow,
    Sidecar,
    SidecarError,
)

if TYPE_CHECKING:
    from beets.library import Album, Item, Library

    from beetsplug._dspipeline.discogs_match import LookupResult
    from beetsplug._dspipeline.discogs_run import AlbumTarget, DiscogsSettings
    from beetsplug._dspipeline.pipeline import LibraryTrack
    from beetsplug._dspipeline.sonic.extract import TrackFeatures
    from beetsplug._dspipeline.sonic_run import SonicSettings, SonicTrack

DISCOGS_DEFAULTS: dict[str, Any] = {
    "auto": True,
    "token": "",
    "base_url": "https://api.discogs.com",
    "threshold": 0.55,
    "strict_artist": False,
    "user_agent": "beets-dspipeline/0.1 (beets plugin)",
    "timeout": 15.0,
    "retries": 4,
    "requests_per_minute": 60,
    "write_genres": "no",
    "genre_source": "styles",
}
SONIC_DEFAULTS: dict[str, Any] = {
    # Off by default: analysis costs seconds of CPU per track and would stall the importer;
    # `beet sonicanalysis` afterwards uses every core and resumes.
    "auto": False,
    "workers": 0,  # 0 = all cores
    "set_bpm": True,
    "executor": "local",
    "scheduler": "",
    "path_map": {},  # local path prefix -> path prefix on Dask workers
}

config["dspipeline"].add({"sidecar": None, "out_dir": None})
config["discogsgenres"].add(DISCOGS_DEFAULTS)
config["discogsgenres"]["token"].redact = True
# We read beets' discogs.user_token too: `beet config` hides it even when beets' own discogs
# plugin (which marks it) is not enabled.
config["discogs"]["user_token"].redact = True
config["sonicanalysis"].add(SONIC_DEFAULTS)

TOKEN_MESSAGE = (
    "ERROR: Discogs token required for production pipeline.\n"
    "Set DISCOGS_TOKEN environment variable or add discogsgenres.token to your beets config.\n"
    "Get token from: https://www.discogs.com/settings/developers"
)

#: Core errors whose message is already the one line a user should see.
USER_ERRORS = (SidecarError, OutputPathError, OutputWriteError)

_sidecars: dict[Path, Sidecar] = {}
_sidecars_lock = threading.Lock()


# -- locations --------------------------------------------------------------------------------
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


def artifacts_dir(lib: Library, option: str | None) -> Path:
    """The artifacts a reader uses: ``--artifacts DIR`` when given, else the full build."""
    return Path(option) if option else out_dir(lib)


def writable_out_dir(lib: Library) -> Path:
    """:func:`out_dir`, checked that it is (or can become) a writable directory."""
    try:
        return check_output_dir(out_dir(lib), "dspipeline.out_dir")
    except OutputPathError as exc:
        raise UserError(str(exc)) from exc


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
            _announce_new(lib, sidecar)
        return sidecar


def _announce_new(lib: Library, sidecar: Sidecar) -> None:
    """A new sidecar in a new directory beside a library with items (a typo in the path?), or an
    empty one (a lost file?), means everything is looked up and analysed afresh: say so."""
    if sidecar.was_empty:
        ui.print_(f"sidecar {sidecar.path} was empty (0 bytes): starting a new one")
    elif sidecar.new_directory and library_item_ids(lib):
        ui.print_(
            f"new sidecar at {sidecar.path}: genres and sonic features start empty "
            "(set dspipeline.sidecar if you have one elsewhere)"
        )


# -- what every command does first ------------------------------------------------------------
@functools.cache  # a failed check raises, so it is not cached: the next call checks again
def check_config() -> None:
    """Validate every dspipeline config section, once per process (see config_schema)."""
    validate(config)  # confuse.ConfigError: beets prints "configuration error: <key>: …"


def check_section(section: str) -> None:
    """Validate one plugin's config section from an import listener: a bad value becomes a
    UserError the listener logs as a warning (a confuse.ConfigError would stop the import)."""
    try:
        validate(config, [section])
    except confuse.ConfigError as exc:
        raise UserError(f"configuration error: {exc}") from exc


def command(func: Callable[..., None]) -> Callable[..., None]:
    """Wrap a command's ``func``: config checked first; core errors become one-line UserErrors."""

    @functools.wraps(func)
    def run(lib: Library, opts: Any, args: list[str]) -> None:
        check_config()
        try:
            func(lib, opts, args)
        except USER_ERRORS as exc:
            raise UserError(str(exc)) from exc

    return run


def peek_sidecar(lib: Library) -> Sidecar:
    """The sidecar if it exists, else an empty in-memory one: dry runs create nothing."""
    return open_sidecar(lib) if sidecar_path(lib).exists() else Sidecar(":memory:")


# -- beets objects -> core records --------------------------------------------------------------
def model_id(model: Item | Album) -> int:
    """The row id of an item or album that is stored in the library."""
    if model.id is None:
        raise ValueError(f"{model} is not stored in the library")
    return int(model.id)


def album_key_of(albumartist: str | None, album: str | None) -> str | None:
    """The one album-key rule: outer whitespace stripped, then :func:`keys.album_key`; None
    when either part is empty."""
    artist, title = (albumartist or "").strip(), (album or "").strip()
    return album_key(artist, title) if artist and title else None


def album_row(album: Album) -> AlbumRow | None:
    """The sidecar row of a beets album; None when artist or title is missing."""
    key = album_key_of(album.albumartist, album.album)
    if key is None:
        return None
    year = int(album.year or 0) or None
    return AlbumRow(key, model_id(album), album.albumartist.strip(), album.album.strip(), year)


def sonic_tracks(items: Sequence[Item]) -> list[SonicTrack]:
    from beetsplug._dspipeline.sonic_run import SonicTrack

    return [SonicTrack(model_id(item), bytes(item.path), float(item.length or 0)) for item in items]


def library_item_ids(lib: Library) -> set[int]:
    with lib.transaction() as tx:
        return {int(row[0]) for row in tx.query("SELECT id FROM items")}


# -- settings ---------------------------------------------------------------------------------
def discogs_token() -> str | None:
    """DISCOGS_TOKEN, then discogsgenres.token, then beets' own discogs.user_token."""
    candidates = [os.environ.get("DISCOGS_TOKEN", ""), config["discogsgenres"]["token"].get()]
    if config["discogs"]["user_token"].exists():
        candidates.append(config["discogs"]["user_token"].get())
    return next((str(c).strip() for c in candidates if c and str(c).strip()), None)


def discogs_threshold(override: float | None = None) -> float:
    """``--threshold`` or ``discogsgenres.threshold``, checked (one line naming which)."""
    if override is not None:
        name, value = "--threshold", override
    else:
        name, value = "discogsgenres.threshold", config["discogsgenres"]["threshold"].as_number()
    if not 0.0 <= float(value) <= 1.0:
        raise UserError(f"{name} must be between 0 and 1, got {value}")
    return float(value)


def discogs_settings(
    threshold: float | None = None, strict_artist: bool | None = None
) -> DiscogsSettings | None:
    """The Discogs settings with command-line overrides; None without a token."""
    from beetsplug._dspipeline.discogs_run import DiscogsSettings

    value = discogs_threshold(threshold)
    token = discogs_token()
    if token is None:
        return None
    view = config["discogsgenres"]
    return DiscogsSettings(
        token=token,
        base_url=view["base_url"].as_str(),
        user_agent=view["user_agent"].as_str(),
        timeout=float(view["timeout"].as_number()),
        retries=int(view["retries"].get(int)),
        requests_per_minute=int(view["requests_per_minute"].get(int)),
        threshold=value,
        strict_artist=bool(strict_artist)
        if strict_artist is not None
        else view["strict_artist"].get(bool),
    )


def require_discogs_settings(**overrides: Any) -> DiscogsSettings:
    """:func:`discogs_settings`, or the documented three-line message and exit status 1."""
    settings = discogs_settings(**overrides)
    if settings is None:
        print(TOKEN_MESSAGE, file=sys.stderr)
        sys.exit(1)
    return settings


def sonic_settings(
    workers: int | None = None, executor: str | None = None, scheduler: str | None = None
) -> SonicSettings:
    from beetsplug._dspipeline.sonic_run import SonicSettings

    view = config["sonicanalysis"]
    n = workers if workers is not None else int(view["workers"].get(int))
    if n < 0:
        raise UserError("--workers must be 0 (all cores) or more")
    kind = executor or view["executor"].as_str()
    if kind not in ("local", "dask"):
        raise UserError(f"sonicanalysis.executor must be local or dask, not {kind!r}")
    return SonicSettings(
        workers=n or (os.cpu_count() or 1),
        executor="dask" if kind == "dask" else "local",
        scheduler=scheduler or view["scheduler"].as_str() or None,
        path_map=tuple((str(k), str(v)) for k, v in view["path_map"].get(dict).items()),
    )


# -- Discogs results onto beets albums ----------------------------------------------------------
def discogs_targets(albums: Sequence[Album]) -> tuple[list[AlbumTarget], int]:
    """Lookup targets, and how many albums were skipped (no artist or no title)."""
    from beetsplug._dspipeline.discogs_match import AlbumQuery
    from beetsplug._dspipeline.discogs_run import AlbumTarget

    targets: list[AlbumTarget] = []
    skipped = 0
    for album in albums:
        row = album_row(album)
        if row is None:
            skipped += 1
            continue
        release_id = int(album.get("discogs_albumid") or 0) or None
        albumtypes = tuple(str(t) for t in album.get("albumtypes") or ())
        query = AlbumQuery(row.albumartist, row.album, row.year, release_id, albumtypes)
        targets.append(AlbumTarget(row, query))
    return targets, skipped


@dataclass(frozen=True)
class GenreWriteBack:
    """``discogsgenres.write_genres`` / ``genre_source``: what goes into beets' ``genres``."""

    mode: str = "no"
    source: str = "styles"

    def genres_for(self, genres: Sequence[str], styles: Sequence[str]) -> list[str]:
        """The tags to write, capitalised the way Discogs shows them (``Trip Hop``);
        ``styles`` falls back to the genres for releases without styles."""
        if self.source == "genres":
            chosen = list(genres)
        elif self.source == "both":
            chosen = [*genres, *styles]
        else:
            chosen = list(styles or genres)
        return [" ".join(w[:1].upper() + w[1:] for w in tag.split(" ")) for tag in chosen]

    def merged(self, current: Sequence[str], new: Sequence[str]) -> list[str]:
        if self.mode == "replace":
            return list(new)
        have = {g.casefold() for g in current}
        return [*current, *(g for g in new if g.casefold() not in have)]


def genre_write_back() -> GenreWriteBack:
    """The write-back settings, checked: a bad value is one line naming the key."""
    view = config["discogsgenres"]
    if view["write_fields"].exists():
        raise UserError(
            "discogsgenres.write_fields was replaced by write_genres (no, append, replace) "
            "and genre_source (styles, genres, both)"
        )
    schema = SCHEMA["discogsgenres"]  # a bad value: confuse.ConfigError naming the key
    return GenreWriteBack(
        view["write_genres"].get(schema["write_genres"]),
        view["genre_source"].get(schema["genre_source"]),
    )


class DiscogsFields:
    """Puts lookup results onto the beets albums they belong to.

    ``items`` replaces ``album.items()`` for the import stage, whose task items are the objects
    beets writes to the files after the stage (and whose files are not at their final place
    yet: the stage never writes files itself, ``write_files`` says whether a command does).
    """

    def __init__(
        self,
        albums: Sequence[Album],
        *,
        items: Sequence[Item] | None = None,
        write_files: bool | None = None,
    ) -> None:
        self.by_key: dict[str, list[Album]] = {}
        for album in albums:
            row = album_row(album)
            if row is not None:
                self.by_key.setdefault(row.album_id, []).append(album)
        self.items = items
        self.write_files = ui.should_write() if write_files is None else write_files
        self.write_back = genre_write_back()

    def on_result(self, target: AlbumTarget, result: LookupResult) -> None:
        if result.status == "error":
            return
        for album in self.by_key.get(target.row.album_id, []):
            self.set_fields(
                album, result.genres, result.styles, result.release_id, result.master_id
            )

    def set_fields(
        self,
        album: Album,
        genres: Sequence[str],
        styles: Sequence[str],
        release_id: int | None,
        master_id: int | None,
    ) -> None:
        """Flexible attributes so `beet ls -a discogs_styles:techno` works; beets' own
        `genres` of the album and its items when `discogsgenres.write_genres` is on."""
        values = {
            "discogs_genres": list(genres),
            "discogs_styles": list(styles),
            "discogs_release_id": release_id,
            "discogs_master_id": master_id,
        }
        for name, value in values.items():
            if value:
                album[name] = value
            elif name in album:
                del album[name]
        new = self.write_back.genres_for(genres, styles)
        if self.write_back.mode == "no" or not new:
            album.store(inherit=False)
            return
        album.genres = self.write_back.merged(album.genres or [], new)
        album.store(inherit=False)
        items: Iterable[Item] = self.items if self.items is not None else album.items()
        for item in items:
            item.genres = self.write_back.merged(item.genres or [], new)
            item.store()
            if self.write_files:
                item.try_write()

    def apply_stored(self, album: Album, sidecar: Sidecar, album_id: str) -> None:
        """Re-imported album already known to the sidecar: copy its rows onto the album."""
        rows = sidecar.album_genres([album_id]).get(album_id, [])
        genres = [g for g, s in rows if s == DISCOGS_GENRE_SOURCE]
        styles = [g for g, s in rows if s == DISCOGS_STYLE_SOURCE]
        if genres or styles:
            self.set_fields(album, genres, styles, *sidecar.last_lookup_ids(album_id))


# -- sonic results onto beets items -------------------------------------------------------------
def bpm_setter(lib: Library) -> Any:
    """``on_stored`` for a sonic run: fills `bpm` when `set_bpm` is on and the item has none."""
    set_bpm = config["sonicanalysis"]["set_bpm"].get(bool)

    def on_stored(item_id: int, features: TrackFeatures) -> None:
        if not set_bpm or features.bpm <= 0:
            return
        item = lib.get_item(item_id)
        if item is not None and not item.get("bpm"):
            item.bpm = round(features.bpm)
            item.store()

    return on_stored


# -- the library as the pipeline sees it ----------------------------------------------------------
# The item fields a LibraryTrack is made of, read straight from the items table for a whole
# library build (1.5 s instead of ~25 s at 100k items spent building Item objects).
_TRACK_FIELDS = (
    "id",
    "path",
    "artist",
    "title",
    "albumartist",
    "album",
    "album_id",
    "genres",
    "disc",
    "track",
    "mb_releasetrackid",
    "length",
)
_ALBUM_FIELDS = ("id", "albumartist", "album", "genres")


class BeetsLibrarySource:
    """:class:`~beetsplug._dspipeline.pipeline.LibrarySource` over a beets library and query."""

    def __init__(self, lib: Library, query: Sequence[str], limit: int | None) -> None:
        self.lib = lib
        self.query = list(query)
        self.limit = limit
        self.on_features = bpm_setter(lib)
        self._fields: DiscogsFields | None = None

    def _albums(self) -> dict[int, tuple[str, str, tuple[str, ...]]]:
        return {
            model_id(a): (a.albumartist or "", a.album or "", tuple(a.genres or ()))
            for a in self.lib.albums()
        }

    def _rows(self) -> list[tuple[Any, ...]]:
        """The item fields of the queried tracks, by id, converted by their beets types."""
        from beets.library import Item
        from beets.plugins import item_field_getters

        if self.query or not item_field_getters().keys().isdisjoint(_TRACK_FIELDS):
            items = sorted(self.lib.items(self.query), key=model_id)[: self.limit]
            return [tuple(item.get(f) for f in _TRACK_FIELDS) for item in items]
        types = [Item._fields[f] for f in _TRACK_FIELDS]
        limit = f" LIMIT {int(self.limit)}" if self.limit else ""
        with self.lib.transaction() as tx:
            rows = tx.query(f"SELECT {', '.join(_TRACK_FIELDS)} FROM items ORDER BY id{limit}")
        return [tuple(t.from_sql(v) for t, v in zip(types, row, strict=True)) for row in rows]

    def tracks(self) -> list[LibraryTrack]:
        from beetsplug._dspipeline.pipeline import LibraryTrack

        albums = self._albums()
        tracks = []
        for values in self._rows():
            f = dict(zip(_TRACK_FIELDS, values, strict=True))
            album = albums.get(f["album_id"]) if f["album_id"] else None
            key_source = album[:2] if album else (f["albumartist"], f["album"])
            tracks.append(
                LibraryTrack(
                    item_id=int(f["id"]),
                    path=bytes(f["path"]),
                    artist=f["artist"] or "",
                    title=f["title"] or "",
                    albumartist=f["albumartist"] or "",
                    album=f["album"] or "",
                    album_key=album_key_of(*key_source),
                    genres=tuple(f["genres"] or ()),
                    album_genres=album[2] if album else (),
                    disc=int(f["disc"] or 0),
                    track=int(f["track"] or 0),
                    mb_releasetrackid=str(f["mb_releasetrackid"] or ""),
                    length=float(f["length"] or 0),
                )
            )
        return tracks

    def album_targets(self) -> tuple[list[AlbumTarget], int]:
        albums = list(self.lib.albums(self.query))
        self._fields = DiscogsFields(albums)
        return discogs_targets(albums)

    def on_discogs_result(self, target: AlbumTarget, result: LookupResult) -> None:
        if self._fields is not None:
            self._fields.on_result(target, result)

    def all_item_ids(self) -> set[int]:
        return library_item_ids(self.lib)

    def signature(self) -> str:
        return library_signature(self.lib)


def library_signature(lib: Library) -> str:
    """A digest of the raw item and album columns the artifacts are built from.

    Exact (any `beet modify`, import or removal of those fields changes it) and cheap: raw
    SQL rows, no beets model objects.
    """
    digest = hashlib.sha256()
    with lib.transaction() as tx:
        for table, fields in (("items", _TRACK_FIELDS), ("albums", _ALBUM_FIELDS)):
            for row in tx.query(f"SELECT {', '.join(fields)} FROM {table} ORDER BY id"):
                digest.update(repr(tuple(row)).encode("utf-8", "surrogateescape"))
            digest.update(b"\0")
    return digest.hexdigest()[:32]
