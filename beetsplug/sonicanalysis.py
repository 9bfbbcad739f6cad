"""Beat-synchronous 137-d "beat3tower" sonic features for every track, into the sidecar."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.exceptions import UserError
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand

from beetsplug._dsp_beets import (
    SONIC_DEFAULTS,
    bpm_setter,
    check_section,
    command,
    library_item_ids,
    open_sidecar,
    peek_sidecar,
    sonic_settings,
    sonic_tracks,
)
from beetsplug._dspipeline.sidecar import SidecarError

if TYPE_CHECKING:
    from beets.library import Item, Library

    from beetsplug._dspipeline.sidecar import Sidecar
    from beetsplug._dspipeline.sonic_run import Progress, SonicPlan, SonicSettings, SonicTrack


class SonicAnalysisPlugin(BeetsPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.config.add(SONIC_DEFAULTS)
        if self.config["auto"].get(bool):
            self.register_listener("album_imported", self.on_album_imported)
            self.register_listener("item_imported", self.on_item_imported)

    # -- the command ------------------------------------------------------------------------
    def commands(self) -> list[Subcommand]:
        cmd = Subcommand("sonicanalysis", help="compute beat3tower sonic features")
        p = cmd.parser
        p.usage = "%prog [options] [QUERY]"
        p.add_option(
            "--force",
            action="store_true",
            default=False,
            help="analyse again even when features are up to date",
        )
        p.add_option(
            "--retry-failed",
            action="store_true",
            default=False,
            help="analyse tracks that failed before (unchanged files are skipped otherwise)",
        )
        p.add_option(
            "--limit", type="int", default=None, metavar="N", help="analyse at most N tracks"
        )
        p.add_option(
            "-j",
            "--workers",
            type="int",
            default=None,
            metavar="N",
            help="processes analysing at once (default: sonicanalysis.workers, 0 = all cores)",
        )
        p.add_option(
            "-p",
            "--dry-run",
            action="store_true",
            default=False,
            help="show what would be analysed; write nothing",
        )
        p.add_option(
            "--executor",
            choices=("local", "dask"),
            default=None,
            help="local processes (default) or a Dask distributed cluster",
        )
        p.add_option(
            "--scheduler",
            default=None,
            metavar="URL",
            help="Dask scheduler address, e.g. tcp://host:8786",
        )
        cmd.func = command(self.command)
        return [cmd]

    def command(self, lib: Library, opts: Any, args: list[str]) -> None:
        from beetsplug._dspipeline.sonic_run import plan_analysis

        if opts.limit is not None and opts.limit < 1:
            raise UserError("--limit must be at least 1")
        settings = sonic_settings(opts.workers, opts.executor, opts.scheduler)
        tracks = sonic_tracks(list(lib.items(args)))
        sidecar = peek_sidecar(lib) if opts.dry_run else open_sidecar(lib)
        plan = plan_analysis(
            tracks,
            sidecar,
            library_item_ids(lib),
            force=opts.force,
            retry_failed=opts.retry_failed,
        )
        todo = plan.analyse[: opts.limit] if opts.limit else plan.analyse
        if opts.dry_run:
            for track in todo:
                ui.print_(f"would analyse: {os.fsdecode(track.path)}")
            ui.print_(f"Sonic: {plan.summary(len(todo), dry_run=True)}")
            return
        stats = self.execute(lib, sidecar, plan, todo, settings)
        missing = len(plan.missing)
        ui.print_(
            f"Sonic: {stats.analysed} analysed, {stats.failed} failed, {missing} missing, "
            f"{len(plan.relink)} relinked, {plan.up_to_date} up to date"
            + (
                f", {plan.failed_before} failed before (use --retry-failed)"
                if plan.failed_before
                else ""
            )
            + f" in {time.monotonic() - stats.started:.1f}s"
        )

    def execute(
        self,
        lib: Library,
        sidecar: Sidecar,
        plan: SonicPlan,
        todo: list[SonicTrack],
        settings: SonicSettings,
    ) -> Progress:
        from beetsplug._dspipeline.sonic_run import SonicRunError, run_analysis

        try:
            return run_analysis(
                sidecar,
                plan,
                todo,
                settings,
                on_stored=bpm_setter(lib),
                on_failure=lambda message: self._log.warning("{}", message),
                progress=ui.print_,
            )
        except SonicRunError as exc:
            raise UserError(str(exc)) from exc

    # -- import (auto) ----------------------------------------------------------------------
    def on_album_imported(self, lib: Library, album: Any) -> None:
        self.analyse_imported(lib, list(album.items()))

    def on_item_imported(self, lib: Library, item: Item) -> None:
        self.analyse_imported(lib, [item])

    def analyse_imported(self, lib: Library, items: list[Item]) -> None:
        """Runs on `album_imported`/`item_imported`, when files are at their final paths.

        A problem here (broken sidecar, bad config) is a warning: the import goes on."""
        from beetsplug._dspipeline.sonic_run import plan_analysis

        try:
            check_section("sonicanalysis")
            sidecar = open_sidecar(lib)
            tracks = sonic_tracks(items)
            plan = plan_analysis(
                tracks, sidecar, library_item_ids(lib), force=False, retry_failed=False
            )
            stats = self.execute(lib, sidecar, plan, plan.analyse, sonic_settings(executor="local"))
        except (UserError, SidecarError) as exc:
            self._log.warning("{}", str(exc))
            return
        self._log.info("analysed {} tracks ({} failed)", stats.done, stats.failed)
