"""Discogs genres and styles per album into the dspipeline sidecar, on import and on demand."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.dbcore import types
from beets.exceptions import UserError
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand

from beetsplug._dsp_beets import (
    DISCOGS_DEFAULTS,
    TOKEN_MESSAGE,
    DiscogsFields,
    check_section,
    command,
    discogs_settings,
    discogs_targets,
    discogs_threshold,
    model_id,
    open_sidecar,
    peek_sidecar,
    require_discogs_settings,
)
from beetsplug._dspipeline.sidecar import SidecarError

if TYPE_CHECKING:
    from beets.importer import ImportSession, ImportTask
    from beets.library import Library

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
        self.config.add(DISCOGS_DEFAULTS)
        self.config["token"].redact = True
        self._warned_no_token = False
        if self.config["auto"].get(bool):
            self.import_stages = [self.import_stage]

    # -- the command ------------------------------------------------------------------------
    def commands(self) -> list[Subcommand]:
        cmd = Subcommand("discogsgenres", help="fetch Discogs genres/styles for albums")
        p = cmd.parser
        p.usage = "%prog [options] [QUERY]"
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
        p.add_option(
            "-v",
            "--verbose",
            action="store_true",
            default=False,
            help="show per album the candidates considered, their scores and the decision",
        )
        cmd.func = command(self.command)
        return [cmd]

    def command(self, lib: Library, opts: Any, args: list[str]) -> None:
        from beetsplug._dspipeline.discogs_run import run_lookups, select_targets

        if opts.limit is not None and opts.limit < 1:
            raise UserError("--limit must be at least 1")
        discogs_threshold(opts.threshold)  # a bad value is an error even with nothing to do
        albums = list(lib.albums(args))
        fields = DiscogsFields(albums)  # checks the write-back settings
        targets, skipped = discogs_targets(albums)
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
        settings = require_discogs_settings(
            threshold=opts.threshold, strict_artist=opts.strict_artist
        )
        if not selection.todo:
            ui.print_(f"Already processed {selection.already_done} albums; use --force to recheck")
            return
        summary = run_lookups(
            settings,
            sidecar,
            selection.todo,
            on_result=self.explaining(fields) if opts.verbose else fields.on_result,
            progress=ui.print_,
        )
        self.report(summary, skipped + selection.already_done)
        if summary.all_failed:
            raise UserError(f"Discogs: {summary.all_failed_message()}")

    @staticmethod
    def explaining(fields: DiscogsFields) -> Callable[[AlbumTarget, LookupResult], None]:
        """``on_result`` that also prints the candidates and the decision (``-v``)."""
        from beetsplug._dspipeline.discogs_match import explain

        def on_result(target: AlbumTarget, result: LookupResult) -> None:
            fields.on_result(target, result)
            ui.print_(
                f"{target.row.albumartist} - {target.row.album}: {result.status}"
                f" ({result.requests} requests)"
            )
            for line in explain(result):
                ui.print_(line)

        return on_result

    @staticmethod
    def report(summary: RunSummary, skipped: int) -> None:
        for line in summary.lines(skipped):
            ui.print_(line)
        for message in summary.error_messages[:10]:
            ui.print_(f"  error: {message}")
        if summary.errors and not summary.all_failed:
            ui.print_(f"Discogs: {summary.errors} albums failed and will be retried next run")

    # -- import -----------------------------------------------------------------------------
    def import_stage(self, session: ImportSession, task: ImportTask) -> None:
        from beetsplug._dspipeline.discogs_run import run_lookups, select_targets

        if not task.is_album or task.album is None:
            return
        album = task.album
        targets, _ = discogs_targets([album])
        if not targets:
            self._log.info("skipping album without artist or title: {}", model_id(album))
            return
        try:
            check_section("discogsgenres")
            sidecar = open_sidecar(session.lib)
            # The task's items: beets writes their tags after this stage.
            fields = DiscogsFields([album], items=task.imported_items(), write_files=False)
            selection = select_targets(targets, sidecar)
            if not selection.todo:
                fields.apply_stored(album, sidecar, targets[0].row.album_id)
                return
            settings = discogs_settings()
        except (UserError, SidecarError) as exc:  # a bad setting, a broken sidecar: the
            # import goes on without lookups
            self._log.warning("{}", str(exc))
            return
        if settings is None:
            if not self._warned_no_token:
                self._warned_no_token = True
                self._log.warning("{}", TOKEN_MESSAGE)
            return
        try:
            summary = run_lookups(
                settings,
                sidecar,
                selection.todo,
                on_result=fields.on_result,
            )
        except SidecarError as exc:  # e.g. the disk is full: the import goes on
            self._log.warning("{}", str(exc))
            return
        if summary.errors:
            self._log.warning("{}", summary.error_messages[0])
        elif summary.hits:
            self._log.info("Discogs genres stored for {}", album)
