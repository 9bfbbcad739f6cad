"""`beet buildartifacts`: Discogs → sonic → genre-sim → artifacts → verify, incremental."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple

from beets import ui
from beets.exceptions import UserError
from beets.library import Item
from beets.plugins import BeetsPlugin, find_plugins, item_field_getters
from beets.ui import Subcommand

from beetsplug._dsp_beets import (
    TOKEN_MESSAGE,
    model_id,
    open_sidecar,
    out_dir,
    peek_sidecar,
    sidecar_path,
)
from beetsplug._dspipeline.genres import GenreNormaliser, GenreWeights, track_genre_weights
from beetsplug._dspipeline.keys import album_key, artist_name_key, track_key
from beetsplug._dspipeline.npzio import write_text_atomic
from beetsplug._dspipeline.sidecar import DISCOGS_SOURCES, Sidecar

if TYPE_CHECKING:
    from beets.library import Album, Library

    from beetsplug._dspipeline.artifacts import TrackRecord

STAGES = ("discogs", "sonic", "genre-sim", "artifacts", "verify")
RUN_REPORT = "analyze_run_report.json"
DATA_FILE = "data_matrices_step1.npz"
GENRE_SIM_FILE = "genre_similarity_matrix.npz"


class StageError(Exception):
    """A stage ended in an error: the command exits non-zero after writing its report."""


@dataclass
class StageResult:
    name: str
    result: str = "ok"  # ok | up-to-date | skipped | warning | error | dry-run
    counts: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    duration_s: float = 0.0


class ItemFields(NamedTuple):
    """The beets item fields the genre-sim and artifacts inputs are made of."""

    id: int
    path: bytes
    artist: str
    title: str
    albumartist: str
    album: str
    album_id: int | None
    genres: list[str]
    disc: int
    track: int
    mb_releasetrackid: str


@dataclass
class TrackInputs:
    """Everything known about the queried tracks, gathered once for genre-sim and artifacts."""

    tracks: list[ItemFields]
    genre_weights: list[dict[str, float]]
    has_discogs: list[bool]
    track_ids: list[str]

    def genre_sets(self) -> list[list[str]]:
        return [sorted(w) for w in self.genre_weights]


def _plugin(cls_name: str, factory: Callable[[], BeetsPlugin]) -> Any:
    """The loaded plugin instance if the user enabled it, else a fresh one (same config)."""
    for plugin in find_plugins():
        if type(plugin).__name__ == cls_name:
            return plugin
    return factory()


def fingerprint(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


class BuildArtifactsPlugin(BeetsPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "weights": {"track": 1.0, "album": 0.8, "artist": 0.5, "sources": {}},
                "min_count": 2,
                "max_genres": 0,  # 0 = no cap
                "synonyms": {},  # extra raw genre → canonical genre
                "drop": [],  # extra genres to drop as meta tags
                "drop_broad": [],  # broad genres to leave out (e.g. rock, pop, electronic)
                "tower_weights": [0.2, 0.5, 0.3],
                "tower_components": [8, 16, 8],
                "hybrid_weights": [0.6, 0.4],
            }
        )

    def commands(self) -> list[Subcommand]:
        cmd = Subcommand("buildartifacts", help="build and verify the playlist artifacts")
        p = cmd.parser
        p.add_option(
            "--stages",
            default=",".join(STAGES),
            metavar="LIST",
            help=f"comma list of stages to run, from: {', '.join(STAGES)}",
        )
        p.add_option(
            "--force",
            action="store_true",
            default=False,
            help="redo the listed stages even when up to date",
        )
        p.add_option(
            "-y",
            "--yes",
            action="store_true",
            default=False,
            help="don't ask before re-analysing all audio",
        )
        p.add_option(
            "-p",
            "--dry-run",
            action="store_true",
            default=False,
            help="show what each stage would do; write and create nothing",
        )
        p.add_option(
            "--limit",
            type="int",
            default=None,
            metavar="N",
            help="cap every stage at N albums/tracks; output goes to a separate "
            "limit-N/ directory and never replaces the real artifacts",
        )
        p.add_option(
            "--out-dir",
            default=None,
            metavar="DIR",
            help="where artifacts go (default: dspipeline.out_dir)",
        )
        cmd.func = self.command
        return [cmd]

    # -- settings ---------------------------------------------------------------------------
    def normaliser(self) -> GenreNormaliser:
        return GenreNormaliser(
            extra_synonyms={str(k): str(v) for k, v in self.config["synonyms"].get(dict).items()},
            extra_drop=[str(x) for x in self.config["drop"].get(list)],
            drop_broad=[str(x) for x in self.config["drop_broad"].get(list)],
        )

    def weights(self) -> GenreWeights:
        w = self.config["weights"]
        return GenreWeights(
            track=float(w["track"].as_number()),
            album=float(w["album"].as_number()),
            artist=float(w["artist"].as_number()),
            sources={str(k): float(v) for k, v in w["sources"].get(dict).items()},
        )

    # -- the command ------------------------------------------------------------------------
    def command(self, lib: Library, opts: Any, args: list[str]) -> None:
        stages = [s.strip() for s in opts.stages.split(",") if s.strip()]
        unknown = [s for s in stages if s not in STAGES]
        if unknown or not stages:
            bad = ", ".join(unknown) or "(none)"
            raise UserError(f"unknown stage(s) {bad}; choose from {', '.join(STAGES)}")
        if opts.limit is not None and opts.limit < 1:
            raise UserError("--limit must be at least 1")
        explicit = opts.stages != ",".join(STAGES)
        stages = [s for s in STAGES if s in stages]  # pipeline order
        target = Path(opts.out_dir) if opts.out_dir else out_dir(lib)
        if opts.limit is not None:
            target = target / f"limit-{opts.limit}"
        run = PipelineRun(self, lib, args, opts, target, explicit)
        if opts.dry_run:
            run.dry_run(stages)
            return
        ok = run.execute(stages)
        if not ok:
            sys.exit(1)


class PipelineRun:
    """One invocation of `beet buildartifacts`."""

    def __init__(
        self,
        plugin: BuildArtifactsPlugin,
        lib: Library,
        query: list[str],
        opts: Any,
        target: Path,
        explicit: bool,
    ) -> None:
        self.plugin = plugin
        self.lib = lib
        self.query = query
        self.opts = opts
        self.target = target
        self.explicit = explicit
        self.results: list[StageResult] = []
        self._items: list[Item] | None = None
        self._inputs: TrackInputs | None = None
        self._fingerprints: tuple[str, str] | None = None

    # -- helpers ----------------------------------------------------------------------------
    def discogs_plugin(self) -> Any:
        from beetsplug.discogsgenres import DiscogsGenresPlugin

        return _plugin("DiscogsGenresPlugin", DiscogsGenresPlugin)

    def sonic_plugin(self) -> Any:
        from beetsplug.sonicanalysis import SonicAnalysisPlugin

        return _plugin("SonicAnalysisPlugin", SonicAnalysisPlugin)

    def sidecar(self) -> Sidecar:
        return open_sidecar(self.lib)

    def albums(self) -> list[Album]:
        return list(self.lib.albums(self.query))

    def items(self) -> list[Item]:
        """The queried items by id, fetched once per run (100k beets Items take ~10 s)."""
        if self._items is None:
            items = sorted(self.lib.items(self.query), key=model_id)
            self._items = items[: self.opts.limit] if self.opts.limit else items
        return self._items

    def item_fields(self) -> list[ItemFields]:
        """:class:`ItemFields` of the queried items, by id.

        For the whole library they are read from the items table and converted by the fields'
        beets types: the same values in 1.5 s instead of ~25 s at 100k items, which beets
        spends building Item objects and asking every plugin for field getters on each
        attribute read. A query, items already fetched, or a plugin that computes one of
        these fields takes the Item path.
        """
        names = ItemFields._fields
        if (
            self.query
            or self._items is not None
            or not item_field_getters().keys().isdisjoint(names)
        ):
            return [ItemFields(*(item.get(f) for f in names)) for item in self.items()]
        types = [Item._fields[f] for f in names]
        limit = f" LIMIT {int(self.opts.limit)}" if self.opts.limit else ""
        with self.lib.transaction() as tx:
            rows = tx.query(f"SELECT {', '.join(names)} FROM items ORDER BY id{limit}")
        return [
            ItemFields(*(t.from_sql(v) for t, v in zip(types, row, strict=True))) for row in rows
        ]

    def inputs(self, sidecar: Sidecar) -> TrackInputs:
        if self._inputs is None:
            self._inputs = gather_inputs(
                self.lib,
                self.item_fields(),
                sidecar,
                self.plugin.normaliser(),
                self.plugin.weights(),
            )
            self._items = None  # ~5 kB each; the inputs hold all the later stages need
        return self._inputs

    # -- dry run ----------------------------------------------------------------------------
    def dry_run(self, stages: Sequence[str]) -> None:
        """Counts per stage and output paths; opens nothing for writing."""
        exists = sidecar_path(self.lib).exists()
        sidecar = peek_sidecar(self.lib)
        ui.print_(f"Dry run: stages {', '.join(stages)}")
        ui.print_(f"  sidecar: {sidecar_path(self.lib)}{'' if exists else ' (would be created)'}")
        ui.print_(f"  output:  {self.target}")
        for stage in stages:
            if stage == "discogs":
                from beetsplug._dspipeline.discogs_run import select_targets

                plugin = self.discogs_plugin()
                targets, skipped = plugin.targets(self.albums())
                sel = select_targets(targets, sidecar, force=self.opts.force, limit=self.opts.limit)
                token = "" if plugin.token() else " (no Discogs token: would be skipped)"
                ui.print_(
                    f"  discogs:   {len(sel.todo)} albums to look up, "
                    f"{sel.already_done} already done, {skipped} skipped{token}"
                )
            elif stage == "sonic":
                plugin = self.sonic_plugin()
                plan = plugin.plan(
                    self.lib, self.items(), sidecar, force=self.opts.force, retry_failed=False
                )
                ui.print_(
                    f"  sonic:     {len(plan.analyse)} tracks to analyse, "
                    f"{len(plan.relink)} to relink, {plan.up_to_date} up to date, "
                    f"{len(plan.missing)} missing files"
                )
            elif stage == "genre-sim":
                inputs = self.inputs(sidecar)
                path = self.target / GENRE_SIM_FILE
                fresh = stored_fingerprint(path) == self.fingerprints(sidecar)[0]
                ui.print_(
                    f"  genre-sim: {len(inputs.tracks)} tracks, "
                    f"{sum(1 for w in inputs.genre_weights if w)} with genres -> {path} "
                    f"({'up to date' if fresh and not self.opts.force else 'would be written'})"
                )
            elif stage == "artifacts":
                inputs = self.inputs(sidecar)
                path = self.target / DATA_FILE
                with_sonic = len(sidecar.feature_versions([t.id for t in inputs.tracks]))
                fresh = stored_fingerprint(path, key="dsp_meta") == self.fingerprints(sidecar)[1]
                ui.print_(
                    f"  artifacts: {with_sonic} of {len(inputs.tracks)} tracks have sonic "
                    f"features -> {path} "
                    f"({'up to date' if fresh and not self.opts.force else 'would be written'})"
                )
            elif stage == "verify":
                ui.print_(f"  verify:    would check {self.target}")

    # -- execution --------------------------------------------------------------------------
    def execute(self, stages: Sequence[str]) -> bool:
        started = time.time()
        runners: dict[str, Callable[[StageResult], None]] = {
            "discogs": self.stage_discogs,
            "sonic": self.stage_sonic,
            "genre-sim": self.stage_genre_sim,
            "artifacts": self.stage_artifacts,
            "verify": self.stage_verify,
        }
        ok = True
        for stage in stages:
            result = StageResult(stage)
            t0 = time.monotonic()
            ui.print_(f"[{stage}]")
            try:
                runners[stage](result)
            except StageError as exc:
                result.result, result.message, ok = "error", str(exc), False
            except UserError as exc:
                result.result, result.message, ok = "error", str(exc), False
            result.duration_s = round(time.monotonic() - t0, 3)
            self.results.append(result)
            ui.print_(
                f"  {stage}: {result.result}"
                + (f" — {result.message}" if result.message else "")
                + f" ({result.duration_s:.1f}s)"
            )
            if result.result == "error" and stage in ("genre-sim", "artifacts"):
                break  # later stages would read what this one failed to write
        self.write_report(started, ok)
        return ok

    def write_report(self, started: float, ok: bool) -> None:
        report = {
            "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
            "finished_at": datetime.now(timezone.utc).isoformat(),
            "duration_s": round(time.time() - started, 3),
            "ok": ok,
            "limit": self.opts.limit,
            "query": self.query,
            "out_dir": str(self.target),
            "stages": [r.__dict__ for r in self.results],
            "totals": {
                "stages": len(self.results),
                "errors": sum(r.result == "error" for r in self.results),
                "warnings": sum(r.result == "warning" for r in self.results),
            },
        }
        self.target.mkdir(parents=True, exist_ok=True)
        write_text_atomic(
            self.target / RUN_REPORT, json.dumps(report, indent=2, ensure_ascii=False, default=str)
        )
        ui.print_(f"Run report: {self.target / RUN_REPORT}")

    # -- stages -----------------------------------------------------------------------------
    def stage_discogs(self, result: StageResult) -> None:
        from beetsplug._dspipeline.discogs_run import select_targets

        plugin = self.discogs_plugin()
        token = plugin.token()
        if token is None:
            print(TOKEN_MESSAGE, file=sys.stderr)
            if self.explicit:
                raise StageError("no Discogs token")
            result.result, result.message = "skipped", "no Discogs token"
            return
        albums = self.albums()
        targets, skipped = plugin.targets(albums)
        sidecar = self.sidecar()
        sel = select_targets(targets, sidecar, force=self.opts.force, limit=self.opts.limit)
        result.counts = {
            "albums": len(albums),
            "todo": len(sel.todo),
            "already_done": sel.already_done,
            "skipped": skipped,
        }
        if not sel.todo:
            result.result = "up-to-date"
            return
        summary = plugin.lookup(
            sidecar, albums, sel.todo, token, progress=lambda line: ui.print_(f"  {line}")
        )
        result.counts.update(
            hits=summary.hits,
            misses=summary.misses,
            errors=summary.errors,
            requests=summary.requests,
        )
        if summary.errors:
            result.result = "warning"
            result.message = f"{summary.errors} albums failed; they are retried next run"

    def stage_sonic(self, result: StageResult) -> None:
        plugin = self.sonic_plugin()
        sidecar = self.sidecar()
        items = self.items()
        if (
            self.opts.force
            and not self.opts.yes
            and not ui.input_yn(f"Re-analyse all {len(items)} tracks? (y/n)", require=True)
        ):
            result.result, result.message = "skipped", "re-analysis not confirmed"
            return
        plan = plugin.plan(self.lib, items, sidecar, force=self.opts.force, retry_failed=False)
        opts = SimpleNamespace(executor=None, scheduler=None, workers=None)
        stats = plugin.execute(self.lib, sidecar, plan, plan.analyse, opts)
        result.counts = {
            "tracks": len(items),
            "analysed": stats.done - stats.failed,
            "failed": stats.failed,
            "relinked": len(plan.relink),
            "up_to_date": plan.up_to_date,
            "failed_before": plan.failed_before,
            "missing": len(plan.missing),
        }
        if not plan.analyse and not plan.relink:
            result.result = "up-to-date"
        if stats.failed or plan.missing:
            result.result = "warning"
            result.message = f"{stats.failed + len(plan.missing)} tracks failed"

    def genre_sim_settings(self) -> tuple[int, int | None]:
        cfg = self.plugin.config
        return int(cfg["min_count"].get(int)), int(cfg["max_genres"].get(int)) or None

    def artifact_config(self) -> Any:
        from beetsplug._dspipeline.artifacts import ArtifactConfig

        cfg = self.plugin.config

        def numbers(name: str, size: int) -> list[float]:
            values = [float(x) for x in cfg[name].get(list)]
            if len(values) != size:
                raise UserError(f"buildartifacts.{name} needs {size} numbers, got {values}")
            return values

        tw, tc, hw = (
            numbers("tower_weights", 3),
            numbers("tower_components", 3),
            numbers("hybrid_weights", 2),
        )
        try:
            return ArtifactConfig(
                tower_weights=(tw[0], tw[1], tw[2]),
                tower_components=(int(tc[0]), int(tc[1]), int(tc[2])),
                hybrid_weights=(hw[0], hw[1]),
            )
        except ValueError as exc:
            raise UserError(f"buildartifacts: {exc}") from exc

    def fingerprints(self, sidecar: Sidecar | None = None) -> tuple[str, str]:
        """(genre-sim, artifacts) fingerprints of the current inputs and settings.

        Computed once per run: the stages that use them (genre-sim, artifacts, verify) run
        after the ones that change the sidecar.
        """
        if self._fingerprints is None:
            sidecar = sidecar or self.sidecar()
            inputs = self.inputs(sidecar)
            genre_fp = fingerprint("genre-sim", inputs.genre_sets(), *self.genre_sim_settings())
            versions = sidecar.feature_versions([t.id for t in inputs.tracks])
            artifacts_fp = fingerprint(
                "artifacts",
                genre_fp,
                inputs.track_ids,
                [(t.id, os.fsdecode(t.path), t.artist, t.title) for t in inputs.tracks],
                inputs.genre_weights,
                inputs.has_discogs,
                [versions.get(t.id) for t in inputs.tracks],
                self.artifact_config().__dict__,
                self.opts.limit,
            )
            self._fingerprints = genre_fp, artifacts_fp
        return self._fingerprints

    def stage_genre_sim(self, result: StageResult) -> None:
        from beetsplug._dspipeline.genre_sim import build_genre_similarity

        genre_sets = self.inputs(self.sidecar()).genre_sets()
        genre_fp, _ = self.fingerprints()
        path = self.target / GENRE_SIM_FILE
        result.counts = {
            "tracks": len(genre_sets),
            "tracks_with_genres": sum(1 for g in genre_sets if g),
        }
        if not self.opts.force and stored_fingerprint(path) == genre_fp:
            result.result = "up-to-date"
            return
        min_count, max_genres = self.genre_sim_settings()
        sim = build_genre_similarity(genre_sets, min_count=min_count, max_genres=max_genres)
        sim.stats["fingerprint"] = genre_fp
        self.target.mkdir(parents=True, exist_ok=True)
        sim.save(path)
        result.counts["genres"] = len(sim.vocab)

    def stage_artifacts(self, result: StageResult) -> None:
        from beetsplug._dspipeline.artifacts import build_artifacts
        from beetsplug._dspipeline.genre_sim import load_genre_similarity

        sim_path = self.target / GENRE_SIM_FILE
        if not sim_path.exists():
            raise StageError(f"{sim_path} is missing: run the genre-sim stage first")
        genre_fp, artifacts_fp = self.fingerprints()
        path = self.target / DATA_FILE
        inputs = self.inputs(self.sidecar())
        result.counts = {"tracks": len(inputs.tracks)}
        if not self.opts.force and stored_fingerprint(path, key="dsp_meta") == artifacts_fp:
            result.result = "up-to-date"
            return
        sim = load_genre_similarity(sim_path)
        if sim.stats.get("fingerprint") != genre_fp:
            raise StageError(f"{sim_path} is out of date: run the genre-sim stage too")
        meta = {
            "library": os.fsdecode(self.lib.path),
            "sidecar": str(self.sidecar().path),
            "limit": self.opts.limit,
        }
        features = self.sidecar().features_for_items([t.id for t in inputs.tracks])
        built = build_artifacts(
            track_records(inputs, features),
            sim,
            self.target,
            config=self.artifact_config(),
            fingerprint=artifacts_fp,
            meta=meta,
        )
        result.counts = dict(built.counts)
        if not built.counts.get("n_tracks"):
            raise StageError("no track has sonic features: run `beet sonicanalysis` first")

    def stage_verify(self, result: StageResult) -> None:
        from beetsplug._dspipeline.verify import verify_artifacts

        report = verify_artifacts(self.target, expected_fingerprint=self.fingerprints()[1])
        for line in report.summary_lines():
            ui.print_(f"  {line}")
        result.counts = dict(report.stats)
        if report.errors:
            raise StageError(f"{len(report.errors)} errors: {'; '.join(report.errors[:3])}")
        if report.warnings:
            result.result = "warning"
            result.message = "; ".join(report.warnings[:3])


def stored_fingerprint(path: Path, key: str = "stats") -> str | None:
    """The fingerprint recorded inside an npz we wrote earlier (None when absent/unreadable)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            value = json.loads(str(data[key][()]))
    except (OSError, KeyError, ValueError):
        return None
    fp = value.get("fingerprint") if isinstance(value, dict) else None
    return str(fp) if fp else None


def gather_inputs(
    lib: Library,
    items: Sequence[ItemFields],
    sidecar: Sidecar,
    normaliser: GenreNormaliser,
    weights: GenreWeights,
) -> TrackInputs:
    """Per track: normalised genre weights (item, album, artist; beets fields and sidecar rows)
    and its stable id."""
    albums = {a.id: (a.albumartist, a.album, a.genres) for a in lib.albums()}
    sidecar_genres = sidecar.album_genres()
    artist_genres = sidecar.artist_genres()
    # Albums share their genre rows and tracks their tags: weigh each combination once.
    weights_cache: dict[tuple[tuple[Any, ...], ...], dict[str, float]] = {}
    genre_weights: list[dict[str, float]] = []
    has_discogs: list[bool] = []
    track_ids: list[str] = []
    seen: dict[str, int] = {}
    for item in items:
        album = albums.get(item.album_id) if item.album_id else None
        artist = (album[0] if album else item.albumartist) or item.artist or ""
        title = (album[1] if album else item.album) or ""
        rows = sidecar_genres.get(album_key(artist, title), []) if artist and title else []
        album_level = [(source, genre) for genre, source in rows]
        if album is not None:
            album_level += [("beets", g) for g in (album[2] or [])]
        artist_level = [
            (source, genre)
            for name in dict.fromkeys((artist, item.artist or ""))
            for genre, source in artist_genres.get(artist_name_key(name), [])
        ]
        key = (tuple(item.genres or ()), tuple(album_level), tuple(artist_level))
        if key not in weights_cache:
            weights_cache[key] = track_genre_weights(
                list(key[0]), album_level, artist_level, normaliser, weights
            )
        genre_weights.append(weights_cache[key])
        has_discogs.append(any(source in DISCOGS_SOURCES for _, source in rows))
        tid = track_key(
            item.albumartist or artist,
            item.album,
            int(item.disc or 0),
            int(item.track or 0),
            item.title,
            str(item.mb_releasetrackid or ""),
        )
        # Two library rows for one track (duplicates): keep ids unique and deterministic.
        n = seen.get(tid, 0)
        seen[tid] = n + 1
        track_ids.append(tid if n == 0 else f"{tid}-{n}")
    return TrackInputs(list(items), genre_weights, has_discogs, track_ids)


def track_records(inputs: TrackInputs, features: dict[int, Any]) -> list[TrackRecord]:
    from beetsplug._dspipeline.artifacts import TrackRecord

    records = []
    for track, weights, discogs, tid in zip(
        inputs.tracks, inputs.genre_weights, inputs.has_discogs, inputs.track_ids, strict=True
    ):
        f = features.get(track.id)
        records.append(
            TrackRecord(
                track_id=tid,
                item_id=track.id,
                path=os.fsdecode(track.path),
                artist=track.artist or track.albumartist or "",
                title=track.title or "",
                album_id=album_key(track.albumartist or track.artist or "", track.album or ""),
                genre_weights=weights,
                has_discogs=discogs,
                bpm=float(f.bpm) if f is not None else 0.0,
                full=f.full if f is not None else None,
                start=f.start if f is not None else None,
                mid=f.mid if f is not None else None,
                end=f.end if f is not None else None,
            )
        )
    return records
