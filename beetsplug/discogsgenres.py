"""Discogs genres and styles per album into the dspipeline sidecar, on import and on demand."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from beets import config, ui
from beets.dbcore import types
from beets.exceptions import UserError
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand

from beetsplug._dsp_beets import TOKEN_MESSAGE, album_row, model_id, open_sidecar, peek_sidecar
from beetsplug._dspipeline.sidecar import DISCOGS_GENRE_SOURCE, DISCOGS_STYLE_SOURCE, Sidecar

if TYPE_CHECKING:
    from beets.importer import ImportSession, ImportTask
    from beets.library import Album, Library

    from beetsplug._dspipeline.discogs_http import DiscogsClient
    from beetsplug._dspipeline.discogs_match import LookupResult
    from beetsplug._dspipeline.discogs_run import AlbumTarget, RunSummary


class DiscogsGenresPlugin(BeetsPlugin):
    album_types = {  # noqa: RUF012 (beets reads these class attributes)
        "discogs_genres": types.SEMICOLON_SPACE_DSV,
        "discogs_styles": types.SEMICOLON_SPACE_DSV,
        "discogs_release_id": types.INTEGER,
        "discogs_master_id": types.INTEGER,
    }

    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "auto": True,
                "token": "",
                "base_url": "https://api.discogs.com",
                "threshold": 0.55,
                "strict_artist": False,
                "user_agent": "beets-dspipeline/0.1 (beets plugin)",
                "timeout": 15.0,
                "retries": 4,
                "requests_per_minute": 60,
                "write_fields": False,
            }
        )
        self.config["token"].redact = True
        self._client: DiscogsClient | None = None
        self._warned_no_token = False
        if self.config["auto"].get(bool):
            self.import_stages = [self.import_stage]

    # -- settings ---------------------------------------------------------------------------
    def token(self) -> str | None:
        """DISCOGS_TOKEN, then discogsgenres.token, then beets' own discogs.user_token."""
        candidates = [os.environ.get("DISCOGS_TOKEN", ""), self.config["token"].get() or ""]
        if config["discogs"]["user_token"].exists():
            candidates.append(config["discogs"]["user_token"].get() or "")
        return next((str(c).strip() for c in candidates if str(c).strip()), None)

    def client(self, token: str) -> DiscogsClient:
        # requests and rapidfuzz load on first use: beets imports every enabled plugin for
        # every command, and most commands never talk to Discogs.
        from beetsplug._dspipeline.discogs_http import DiscogsClient

        if self._client is None:
            self._client = DiscogsClient(
                self.config["base_url"].as_str().rstrip("/"),
                token,
                self.config["user_agent"].as_str(),
                timeout=float(self.config["timeout"].as_number()),
                max_retries=int(self.config["retries"].get(int)),
                rate_limit_per_min=int(self.config["requests_per_minute"].get(int)),
            )
        return self._client

    # -- the command ------------------------------------------------------------------------
    def commands(self) -> list[Subcommand]:
        cmd = Subcommand("discogsgenres", help="fetch Discogs genres/styles for albums")
        p = cmd.parser
        p.add_option(
            "--force",
            action="store_true",
            default=False,
            help="look up every matched album again, hits included",
        )
        p.add_option(
            "--recheck-empty",
            action="store_true",
            default=False,
            help="retry only albums marked as not found on Discogs",
        )
        p.add_option(
            "-p",
            "--dry-run",
            action="store_true",
            default=False,
            help="list the albums that would be looked up; send and write nothing",
        )
        p.add_option(
            "--limit", type="int", default=None, metavar="N", help="look up at most N albums"
        )
        p.add_option(
            "--strict-artist",
            action="store_true",
            default=None,
            help="never accept a result whose artist does not match",
        )
        p.add_option(
            "--threshold",
            type="float",
            default=None,
            metavar="F",
            help="minimum match score in 0..1 (default: discogsgenres.threshold)",
        )
        cmd.func = self.command
        return [cmd]

    def command(self, lib: Library, opts: Any, args: list[str]) -> None:
        from beetsplug._dspipeline.discogs_run import select_targets

        if opts.limit is not None and opts.limit < 1:
            raise UserError("--limit must be at least 1")
        albums = list(lib.albums(args))
        targets, skipped = self.targets(albums)
        # Singletons have no album to look up: skipped, and counted as such.
        skipped += len(lib.items([*args, "singleton:true"]))
        sidecar = peek_sidecar(lib) if opts.dry_run else open_sidecar(lib)
        selection = select_targets(
            targets,
            sidecar,
            force=opts.force,
            recheck_empty=opts.recheck_empty,
            limit=opts.limit,
        )
        if opts.dry_run:
            for target in selection.todo:
                ui.print_(f"would look up: {target.row.albumartist} - {target.row.album}")
            ui.print_(
                f"Discogs: {len(selection.todo)} albums would be looked up "
                f"({selection.already_done} already processed, {skipped} skipped"
                + (f", {selection.limited} over --limit" if selection.limited else "")
                + ")"
            )
            return
        token = self.token()
        if token is None:
            print(TOKEN_MESSAGE, file=sys.stderr)
            sys.exit(1)
        if not selection.todo:
            ui.print_(f"Already processed {selection.already_done} albums; use --force to recheck")
            return
        summary = self.lookup(
            sidecar,
            albums,
            selection.todo,
            token,
            threshold=opts.threshold,
            strict_artist=opts.strict_artist,
            progress=ui.print_,
        )
        self.report(summary, skipped + selection.already_done)

    def lookup(
        self,
        sidecar: Sidecar,
        albums: Sequence[Album],
        todo: Sequence[AlbumTarget],
        token: str,
        *,
        threshold: float | None = None,
        strict_artist: bool | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> RunSummary:
        """Look up `todo`, store each outcome, and set the fields of the matching `albums`."""
        from beetsplug._dspipeline.discogs_run import run_lookups

        by_key = self.albums_by_key(albums)
        return run_lookups(
            self.client(token),
            sidecar,
            todo,
            threshold=self.threshold(threshold),
            strict_artist=self.strict_artist(strict_artist),
            on_result=lambda t, r: self.apply_result(by_key.get(t.row.album_id, []), r),
            progress=progress,
        )

    def report(self, summary: RunSummary, skipped: int) -> None:
        for line in summary.lines(skipped):
            ui.print_(line)
        for message in summary.error_messages[:10]:
            ui.print_(f"  error: {message}")
        if summary.errors:
            ui.print_(f"Discogs: {summary.errors} albums failed and will be retried next run")

    def threshold(self, override: float | None) -> float:
        value = float(override if override is not None else self.config["threshold"].as_number())
        if not 0.0 <= value <= 1.0:
            raise UserError(f"threshold must be between 0 and 1, got {value}")
        return value

    def strict_artist(self, override: bool | None) -> bool:
        return bool(override) if override is not None else self.config["strict_artist"].get(bool)

    @staticmethod
    def targets(albums: Sequence[Album]) -> tuple[list[AlbumTarget], int]:
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
            query = AlbumQuery(row.albumartist, row.album, row.year, release_id)
            targets.append(AlbumTarget(row, query))
        return targets, skipped

    @staticmethod
    def albums_by_key(albums: Sequence[Album]) -> dict[str, list[Album]]:
        out: dict[str, list[Album]] = {}
        for album in albums:
            row = album_row(album)
            if row is not None:
                out.setdefault(row.album_id, []).append(album)
        return out

    # -- beets fields -----------------------------------------------------------------------
    def apply_result(self, albums: Sequence[Album], result: LookupResult) -> None:
        if result.status == "error":
            return
        for album in albums:
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
        `genres`/`style` only when `write_fields` is on."""
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
        if self.config["write_fields"].get(bool) and (genres or styles):
            # beets' discogs plugin convention: styles into `genres`, genres into `style`.
            album.genres = list(styles or genres)
            album.style = ", ".join(genres)
            album.store(inherit=True)
            if ui.should_write():
                for item in album.items():
                    item.try_write()
        else:
            album.store(inherit=False)

    def apply_stored(self, album: Album, sidecar: Sidecar, album_id: str) -> None:
        """Re-imported album already known to the sidecar: copy its rows onto the album."""
        rows = sidecar.album_genres([album_id]).get(album_id, [])
        genres = [g for g, s in rows if s == DISCOGS_GENRE_SOURCE]
        styles = [g for g, s in rows if s == DISCOGS_STYLE_SOURCE]
        if genres or styles:
            self.set_fields(album, genres, styles, *sidecar.last_lookup_ids(album_id))

    # -- import -----------------------------------------------------------------------------
    def import_stage(self, session: ImportSession, task: ImportTask) -> None:
        from beetsplug._dspipeline.discogs_run import select_targets

        if not task.is_album or task.album is None:
            return
        album = task.album
        targets, _ = self.targets([album])
        if not targets:
            self._log.info("skipping album without artist or title: {}", model_id(album))
            return
        try:
            sidecar = open_sidecar(session.lib)
        except UserError as exc:  # a broken sidecar must not stop the import
            self._log.warning("{}", str(exc))
            return
        selection = select_targets(targets, sidecar)
        if not selection.todo:
            self.apply_stored(album, sidecar, targets[0].row.album_id)
            return
        token = self.token()
        if token is None:
            if not self._warned_no_token:
                self._warned_no_token = True
                self._log.warning("{}", TOKEN_MESSAGE)
            return
        summary = self.lookup(sidecar, [album], selection.todo, token)
        if summary.errors:
            self._log.warning("{}", summary.error_messages[0])
        elif summary.hits:
            self._log.info("Discogs genres stored for {}", album)
