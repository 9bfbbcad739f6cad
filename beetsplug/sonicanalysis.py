"""Beat-synchronous 137-d "beat3tower" sonic features for every track, into the sidecar."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal, cast

from beets import ui
from beets.exceptions import UserError
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand

from beetsplug._dsp_beets import model_id, open_sidecar, peek_sidecar
from beetsplug._dspipeline.sidecar import FileIdentity, Sidecar, SonicIndex, StoredFeatures
from beetsplug._dspipeline.sonic.layout import EXTRACTOR_NAME, EXTRACTOR_VERSION

if TYPE_CHECKING:
    from beets.library import Item, Library

    from beetsplug._dspipeline.sonic.executor import AnalysisOutcome

PROGRESS_SECONDS = 5.0


def file_identity(item: Item) -> FileIdentity | None:
    """Path, size and mtime of the item's file; None when the file is gone."""
    try:
        st = os.stat(item.path)
    except OSError:
        return None
    return FileIdentity(bytes(item.path), st.st_size, st.st_mtime)


@dataclass
class Plan:
    """What a run will do with the queried items."""

    analyse: list[Item] = field(default_factory=list)
    relink: list[tuple[Item, FileIdentity, str]] = field(default_factory=list)
    up_to_date: int = 0
    failed_before: int = 0
    missing: list[Item] = field(default_factory=list)


@dataclass
class Progress:
    total: int
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    last_print: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        return (
            f"Sonic: {self.done}/{self.total} analysed ({rate:.2f} tracks/s, "
            f"ETA {eta:.0f}s, {self.failed} failed)"
        )


class SonicAnalysisPlugin(BeetsPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                # Off by default: analysis costs seconds of CPU per track and would stall the
                # importer; `beet sonicanalysis` afterwards uses every core and resumes.
                "auto": False,
                "workers": 0,  # 0 = all cores
                "set_bpm": True,
                "executor": "local",
                "scheduler": "",
                "path_map": {},  # local path prefix -> path prefix on Dask workers
            }
        )
        if self.config["auto"].get(bool):
            self.register_listener("album_imported", self.on_album_imported)
            self.register_listener("item_imported", self.on_item_imported)

    # -- the command ------------------------------------------------------------------------
    def commands(self) -> list[Subcommand]:
        cmd = Subcommand("sonicanalysis", help="compute beat3tower sonic features")
        p = cmd.parser
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
            help="worker processes (default: sonicanalysis.workers, 0 = all cores)",
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
        cmd.func = self.command
        return [cmd]

    def command(self, lib: Library, opts: Any, args: list[str]) -> None:
        if opts.limit is not None and opts.limit < 1:
            raise UserError("--limit must be at least 1")
        items = list(lib.items(args))
        sidecar = peek_sidecar(lib) if opts.dry_run else open_sidecar(lib)
        plan = self.plan(lib, items, sidecar, force=opts.force, retry_failed=opts.retry_failed)
        todo = plan.analyse[: opts.limit] if opts.limit else plan.analyse
        if opts.dry_run:
            for item in todo:
                ui.print_(f"would analyse: {os.fsdecode(item.path)}")
            ui.print_(
                f"Sonic: {len(todo)} tracks would be analysed, {len(plan.relink)} relinked "
                f"(moved or re-tagged), {plan.up_to_date} up to date, "
                f"{plan.failed_before} failed before, {len(plan.missing)} missing files"
            )
            return
        stats = self.execute(lib, sidecar, plan, todo, opts)
        ui.print_(
            f"Sonic: {stats.done - stats.failed} analysed, {stats.failed} failed, "
            f"{len(plan.missing)} missing, {len(plan.relink)} relinked, "
            f"{plan.up_to_date} up to date"
            + (
                f", {plan.failed_before} failed before (use --retry-failed)"
                if plan.failed_before
                else ""
            )
            + f" in {time.monotonic() - stats.started:.1f}s"
        )

    def workers(self, override: int | None) -> int:
        n = override if override is not None else int(self.config["workers"].get(int))
        if n < 0:
            raise UserError("--workers must be 0 (all cores) or more")
        return n or (os.cpu_count() or 1)

    # -- planning ---------------------------------------------------------------------------
    def plan(
        self,
        lib: Library,
        items: Sequence[Item],
        sidecar: Sidecar,
        *,
        force: bool,
        retry_failed: bool,
    ) -> Plan:
        """Decide per item: up to date, relink to known audio, analyse, or skip a past failure.

        The file's identity (path, size, mtime) is checked first; only files that changed
        identity are decoded and hashed to recognise audio already analysed (move, re-import,
        tag edit), so an unchanged library costs no decoding at all.
        """
        from beetsplug._dspipeline.sonic.decode import audio_hash
        from beetsplug._dspipeline.sonic.extract import AnalysisError

        plan = Plan()
        index = sidecar.sonic_index()
        # Features of items that left the library (re-import, removal) may match new items:
        # only then is hashing a new file worth a decode.
        with lib.transaction() as tx:
            library_ids = {int(r[0]) for r in tx.query("SELECT id FROM items")}
        may_match_known = bool(index.links.keys() - library_ids) or index.has_unlinked_features()
        for item in items:
            ident = file_identity(item)
            if ident is None:
                plan.missing.append(item)
                continue
            if force:
                plan.analyse.append(item)
                continue
            link = index.links.get(model_id(item))
            if link is not None and link[0] == ident and self._current(index, link[1]):
                plan.up_to_date += 1
                continue
            failure = index.failures.get(model_id(item))
            if failure is not None and failure[0] == ident and not retry_failed:
                plan.failed_before += 1
                continue
            key = index.key_for_identity(ident)
            if key is None and (link is not None or may_match_known):
                try:
                    key = audio_hash(item.path)
                except AnalysisError:
                    key = None  # the analysis will record why
            if key is not None and self._current(index, key):
                plan.relink.append((item, ident, key))
            else:
                plan.analyse.append(item)
        return plan

    @staticmethod
    def _current(index: SonicIndex, audio_key: str) -> bool:
        return index.versions.get(audio_key) == EXTRACTOR_VERSION

    # -- running ----------------------------------------------------------------------------
    def execute(
        self, lib: Library, sidecar: Sidecar, plan: Plan, todo: Sequence[Item], opts: Any
    ) -> Progress:
        from beetsplug._dspipeline.sonic.executor import AnalysisJob, run_jobs

        for item, ident, key in plan.relink:
            sidecar.link_file(model_id(item), ident, key)
        for item in plan.missing:
            sidecar.record_failure(
                model_id(item),
                bytes(item.path),
                None,
                "missing",
                f"{os.fsdecode(item.path)}: file not found",
            )
        progress = Progress(total=len(todo))
        if not todo:
            return progress
        by_id = {model_id(item): item for item in todo}
        executor = opts.executor or self.config["executor"].as_str()
        if executor not in ("local", "dask"):
            raise UserError(f"sonicanalysis.executor must be local or dask, not {executor!r}")
        scheduler = opts.scheduler or self.config["scheduler"].as_str() or None
        if executor == "dask" and not scheduler:
            raise UserError("--executor dask needs --scheduler tcp://host:8786")
        path_map = [(str(k), str(v)) for k, v in self.config["path_map"].get(dict).items()]
        jobs = [AnalysisJob(model_id(item), os.fsdecode(item.path)) for item in todo]
        try:
            outcomes = run_jobs(
                jobs,
                workers=self.workers(opts.workers),
                executor=cast("Literal['local', 'dask']", executor),
                scheduler=scheduler,
                path_map=path_map,
            )
        except ImportError as exc:
            raise UserError(
                f"the dask executor needs the [dask] extra (pip install "
                f"'beets-dspipeline[dask]'): {exc}"
            ) from exc
        try:
            for outcome in outcomes:
                self.store_outcome(sidecar, by_id[outcome.key], outcome, progress)
                if time.monotonic() - progress.last_print >= PROGRESS_SECONDS:
                    progress.last_print = time.monotonic()
                    ui.print_(progress.line())
        except OSError as exc:  # the Dask scheduler cannot be reached (or went away)
            if executor != "dask":
                raise
            raise UserError(f"Dask scheduler {scheduler}: {exc}") from exc
        return progress

    def store_outcome(
        self, sidecar: Sidecar, item: Item, outcome: AnalysisOutcome, progress: Progress
    ) -> None:
        progress.done += 1
        ident = file_identity(item)
        feats = outcome.features
        if feats is None or ident is None:
            progress.failed += 1
            reason = outcome.reason or "missing"
            message = outcome.message or f"{outcome.path}: file not found"
            sidecar.record_failure(model_id(item), bytes(item.path), ident, reason, message)
            self._log.warning("{}", message)
            return
        sidecar.store_features(
            model_id(item),
            ident,
            StoredFeatures(
                audio_key=feats.audio_hash,
                extractor=EXTRACTOR_NAME,
                extractor_version=EXTRACTOR_VERSION,
                full=feats.full,
                start=feats.start,
                mid=feats.mid,
                end=feats.end,
                duration=feats.duration,
                sample_rate=feats.sample_rate,
                n_beats=feats.n_beats,
                beat_fallback=feats.beat_fallback,
                bpm=feats.bpm,
                tempo_stability=feats.tempo_stability,
                half_tempo_likely=feats.half_tempo_likely,
                double_tempo_likely=feats.double_tempo_likely,
                analysed_at=time.time(),
            ),
        )
        if self.config["set_bpm"].get(bool) and not item.get("bpm") and feats.bpm > 0:
            item.bpm = round(feats.bpm)
            item.store()

    # -- import (auto) ----------------------------------------------------------------------
    def on_album_imported(self, lib: Library, album: Any) -> None:
        self.analyse_imported(lib, list(album.items()))

    def on_item_imported(self, lib: Library, item: Item) -> None:
        self.analyse_imported(lib, [item])

    def analyse_imported(self, lib: Library, items: list[Item]) -> None:
        """Runs on `album_imported`/`item_imported`, when files are at their final paths.

        A problem here (broken sidecar, bad config) is a warning: the import goes on."""
        try:
            sidecar = open_sidecar(lib)
            plan = self.plan(lib, items, sidecar, force=False, retry_failed=False)
            opts = SimpleNamespace(executor="local", scheduler=None, workers=None)
            stats = self.execute(lib, sidecar, plan, plan.analyse, opts)
        except UserError as exc:
            self._log.warning("{}", str(exc))
            return
        self._log.info("analysed {} tracks ({} failed)", stats.done, stats.failed)
