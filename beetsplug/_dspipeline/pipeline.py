"""The build pipeline: discogs → sonic → genre-sim → artifacts → verify, each stage planned once.

Every stage has a ``plan()`` that decides what it would do, used alike by ``--dry-run`` (which
prints the plan) and by the real run (which carries it out), so a stage is changed in one place.
The beets side hands in a :class:`LibrarySource` (plain records and callbacks) and settings;
nothing here imports beets.

genre-sim and artifacts are one pair: they are built into a staging folder beside the target,
verified together, and only then renamed over the previous pair. A failure anywhere leaves the
previous pair as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from .artifact_format import (
    BUILD_STATE_FILE,
    DATA_FILE,
    GENRE_SIM_FILE,
    LAST_BUILD_REPORT_FILE,
    RUN_REPORT_FILE,
    BuildState,
    inputs_signature,
    stored_fingerprint,
)
from .discogs_run import AlbumTarget, DiscogsSettings, Selection, run_lookups, select_targets
from .genres import GenreNormaliser, GenreWeights, track_genre_weights
from .keys import artist_name_key, track_key
from .npzio import OutputWriteError, remove_stale_temp_files, staging_dir, write_text_atomic
from .sidecar import DISCOGS_SOURCES, Sidecar
from .sonic_run import (
    SonicPlan,
    SonicRunError,
    SonicSettings,
    SonicTrack,
    plan_analysis,
    run_analysis,
)

if TYPE_CHECKING:
    from .artifacts import TrackRecord
    from .discogs_match import LookupResult
    from .embedding import ArtifactConfig
    from .genre_sim import GenreSimilarity
    from .sidecar import StoredFeatures
    from .sonic.extract import TrackFeatures
    from .verify import VerifyReport

STAGES = ("discogs", "sonic", "genre-sim", "artifacts", "verify")
# The pair is replaced together: naming one of them runs both.
PAIR = ("genre-sim", "artifacts")


class StageError(Exception):
    """A stage ended in an error: the run goes on to write its report, then exits non-zero."""


@dataclass(frozen=True)
class LibraryTrack:
    """One library track as the pipeline needs it (made from a beets item by ``_dsp_beets``)."""

    item_id: int
    path: bytes
    artist: str
    title: str
    albumartist: str
    album: str
    album_key: str | None  # keys.album_key of its album; None without albumartist or album
    genres: tuple[str, ...]  # the track's own beets genres
    album_genres: tuple[str, ...]  # its beets album's genres
    disc: int
    track: int
    mb_releasetrackid: str
    length: float = 0.0  # seconds


class LibrarySource(Protocol):
    """What the pipeline asks of the music library; the beets side implements it."""

    def tracks(self) -> list[LibraryTrack]:
        """The queried tracks by item id, cut at the limit."""
        ...

    def album_targets(self) -> tuple[list[AlbumTarget], int]:
        """Discogs lookup targets of the queried albums, and how many were skipped."""
        ...

    def all_item_ids(self) -> set[int]:
        """Every item id in the library (features of removed items may match new files)."""
        ...

    def signature(self) -> str:
        """A cheap, exact signature of the library fields the artifacts are built from."""
        ...

    def on_discogs_result(self, target: AlbumTarget, result: LookupResult) -> None: ...

    def on_features(self, item_id: int, features: TrackFeatures) -> None: ...


@dataclass(frozen=True)
class GenreSettings:
    normaliser: GenreNormaliser
    weights: GenreWeights
    min_count: int = 2
    max_genres: int | None = None


@dataclass(frozen=True)
class BuildSettings:
    stages: tuple[str, ...]
    target: Path  # the artifacts folder of this build (a subset folder for a query/limit)
    query: tuple[str, ...]
    limit: int | None
    force: bool
    library_path: str
    genre: GenreSettings
    artifacts: ArtifactConfig
    sonic: SonicSettings
    discogs: DiscogsSettings | None  # None: no token
    require_discogs: bool = False  # the discogs stage was named: no token is an error
    confirm: Callable[[str], bool] = lambda question: True
    say: Callable[[str], None] = print


@dataclass
class StageResult:
    name: str
    result: str = "ok"  # ok | up-to-date | skipped | warning | error
    counts: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    duration_s: float = 0.0

    def line(self) -> str:
        message = f" — {self.message}" if self.message else ""
        return f"  {self.name}: {self.result}{message} ({self.duration_s:.1f}s)"


def normalise_stages(names: Sequence[str]) -> tuple[str, ...]:
    """Pipeline order; genre-sim and artifacts always together. Raises StageError on a typo."""
    wanted = {name.strip() for name in names if name.strip()}
    unknown = sorted(wanted - set(STAGES))
    if unknown or not wanted:
        bad = ", ".join(unknown) or "(none)"
        raise StageError(f"unknown stage(s) {bad}; choose from {', '.join(STAGES)}")
    if wanted & set(PAIR):
        wanted |= set(PAIR)
    return tuple(stage for stage in STAGES if stage in wanted)


def fingerprint(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


# -- inputs ---------------------------------------------------------------------------------
@dataclass
class TrackInputs:
    """Everything known about the queried tracks, gathered once for genre-sim and artifacts."""

    tracks: list[LibraryTrack]
    genre_weights: list[dict[str, float]]
    has_discogs: list[bool]
    track_ids: list[str]

    def genre_sets(self) -> list[list[str]]:
        return [sorted(w) for w in self.genre_weights]


def gather_inputs(
    tracks: Sequence[LibraryTrack], sidecar: Sidecar, genre: GenreSettings
) -> TrackInputs:
    """Per track: normalised genre weights (track, album, artist level; beets fields and
    sidecar rows) and its stable artifact id."""
    sidecar_genres = sidecar.album_genres()
    artist_genres = sidecar.artist_genres()
    # Albums share their genre rows and tracks their tags: weigh each combination once.
    cache: dict[tuple[tuple[Any, ...], ...], dict[str, float]] = {}
    genre_weights: list[dict[str, float]] = []
    has_discogs: list[bool] = []
    track_ids: list[str] = []
    seen: dict[str, int] = {}
    for track in tracks:
        rows = sidecar_genres.get(track.album_key, []) if track.album_key else []
        album_level = [(source, g) for g, source in rows]
        album_level += [("beets", g) for g in track.album_genres]
        artist_level = [
            (source, g)
            for name in dict.fromkeys((track.albumartist, track.artist))
            if name
            for g, source in artist_genres.get(artist_name_key(name), [])
        ]
        key = (track.genres, tuple(album_level), tuple(artist_level))
        if key not in cache:
            cache[key] = track_genre_weights(
                list(track.genres), album_level, artist_level, genre.normaliser, genre.weights
            )
        genre_weights.append(cache[key])
        has_discogs.append(any(source in DISCOGS_SOURCES for _, source in rows))
        tid = track_key(
            track.albumartist or track.artist,
            track.album,
            track.disc,
            track.track,
            track.title,
            track.mb_releasetrackid,
        )
        # Two library rows for one track (duplicates): keep ids unique and deterministic.
        n = seen.get(tid, 0)
        seen[tid] = n + 1
        track_ids.append(tid if n == 0 else f"{tid}-{n}")
    return TrackInputs(list(tracks), genre_weights, has_discogs, track_ids)


def track_records(inputs: TrackInputs, features: dict[int, StoredFeatures]) -> list[TrackRecord]:
    from .artifacts import TrackRecord

    records = []
    for track, weights, discogs, tid in zip(
        inputs.tracks, inputs.genre_weights, inputs.has_discogs, inputs.track_ids, strict=True
    ):
        f = features.get(track.item_id)
        records.append(
            TrackRecord(
                track_id=tid,
                item_id=track.item_id,
                path=os.fsdecode(track.path),
                artist=track.artist or track.albumartist,
                title=track.title,
                # A track without an album key is an album of its own (per-album caps).
                album_id=track.album_key or f"track:{tid}",
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


# -- the run ------------------------------------------------------------------------------
class PipelineRun:
    """One invocation: the source, the settings, and what earlier stages left for later ones."""

    def __init__(self, source: LibrarySource, sidecar: Sidecar, settings: BuildSettings) -> None:
        self.source = source
        self.sidecar = sidecar
        self.settings = settings
        self._tracks: list[LibraryTrack] | None = None
        self._inputs: TrackInputs | None = None
        self._fingerprints: tuple[str, str] | None = None
        self._versions: dict[int, tuple[str, str]] | None = None
        self.new_genre_sim: GenreSimilarity | None = None
        self.verified: VerifyReport | None = None
        self.results: list[StageResult] = []

    @property
    def target(self) -> Path:
        return self.settings.target

    def tracks(self) -> list[LibraryTrack]:
        if self._tracks is None:
            self._tracks = self.source.tracks()
        return self._tracks

    def inputs(self) -> TrackInputs:
        """Gathered once, when first needed: after the stages that change the sidecar."""
        if self._inputs is None:
            self._inputs = gather_inputs(self.tracks(), self.sidecar, self.settings.genre)
        return self._inputs

    def fingerprints(self) -> tuple[str, str]:
        """(genre-sim, artifacts) fingerprints of the current inputs and settings."""
        if self._fingerprints is None:
            inputs = self.inputs()
            genre = self.settings.genre
            genre_fp = fingerprint(
                "genre-sim", inputs.genre_sets(), genre.min_count, genre.max_genres
            )
            versions = self.feature_versions()
            artifacts_fp = fingerprint(
                "artifacts",
                genre_fp,
                inputs.track_ids,
                [
                    (t.item_id, os.fsdecode(t.path), t.artist, t.title, t.album_key)
                    for t in inputs.tracks
                ],
                inputs.genre_weights,
                inputs.has_discogs,
                [versions.get(t.item_id) for t in inputs.tracks],
                self.settings.artifacts.__dict__,
                self.settings.limit,
            )
            self._fingerprints = genre_fp, artifacts_fp
        return self._fingerprints

    def feature_versions(self) -> dict[int, tuple[str, str]]:
        """item id → (audio key, extractor version) of the queried tracks' stored features;
        read once (a join over the whole sidecar), after the stages that change it."""
        if self._versions is None:
            ids = [t.item_id for t in self.inputs().tracks]
            self._versions = self.sidecar.feature_versions(ids)
        return self._versions

    def n_with_sonic(self) -> int:
        return len(self.feature_versions())

    def inputs_signature(self) -> str:
        return inputs_signature(self.source.signature(), self.sidecar.data_version())


P = TypeVar("P")


class Stage(ABC, Generic[P]):
    """One step of the pipeline: ``plan`` decides, ``run`` carries the plan out."""

    name: ClassVar[str]

    @abstractmethod
    def plan(self, run: PipelineRun) -> P: ...

    @abstractmethod
    def describe(self, run: PipelineRun, plan: P) -> str:
        """What the stage would do, in one line (the dry run prints it)."""

    @abstractmethod
    def run(self, run: PipelineRun, plan: P, result: StageResult) -> None: ...


@dataclass
class DiscogsPlan:
    selection: Selection
    skipped: int


class DiscogsStage(Stage[DiscogsPlan]):
    name = "discogs"

    def plan(self, run: PipelineRun) -> DiscogsPlan:
        targets, skipped = run.source.album_targets()
        settings = run.settings
        sel = select_targets(targets, run.sidecar, force=settings.force, limit=settings.limit)
        return DiscogsPlan(sel, skipped)

    def describe(self, run: PipelineRun, plan: DiscogsPlan) -> str:
        line = (
            f"{len(plan.selection.todo)} albums to look up, {plan.selection.already_done} "
            f"already done, {plan.skipped} skipped"
        )
        if run.settings.discogs is None:
            line += " — " + ("would fail" if run.settings.require_discogs else "skipped")
            line += ": no Discogs token"
        return line

    def run(self, run: PipelineRun, plan: DiscogsPlan, result: StageResult) -> None:
        sel = plan.selection
        result.counts = {
            "todo": len(sel.todo),
            "already_done": sel.already_done,
            "skipped": plan.skipped,
        }
        settings = run.settings.discogs
        if settings is None:
            if run.settings.require_discogs:
                raise StageError("no Discogs token")
            result.result, result.message = "skipped", "no Discogs token"
            return
        if not sel.todo:
            result.result = "up-to-date"
            return
        summary = run_lookups(
            settings,
            run.sidecar,
            sel.todo,
            on_result=run.source.on_discogs_result,
            progress=lambda line: run.settings.say(f"  {line}"),
        )
        result.counts.update(
            hits=summary.hits,
            misses=summary.misses,
            errors=summary.errors,
            requests=summary.requests,
        )
        if summary.all_failed:
            # An error, as in `beet discogsgenres`; the later stages still build from what
            # is stored.
            raise StageError(summary.all_failed_message())
        if summary.errors:
            result.result = "warning"
            result.message = f"{summary.errors} albums failed; they are retried next run"


class SonicStage(Stage[SonicPlan]):
    name = "sonic"

    def plan(self, run: PipelineRun) -> SonicPlan:
        tracks = [SonicTrack(t.item_id, t.path, t.length) for t in run.tracks()]
        ids = run.source.all_item_ids()
        return plan_analysis(tracks, run.sidecar, ids, force=run.settings.force, retry_failed=False)

    def describe(self, run: PipelineRun, plan: SonicPlan) -> str:
        return plan.summary(dry_run=True)

    def run(self, run: PipelineRun, plan: SonicPlan, result: StageResult) -> None:
        n = len(run.tracks())
        if run.settings.force and not run.settings.confirm(f"Re-analyse all {n} tracks? (y/n)"):
            result.result, result.message = "skipped", "re-analysis not confirmed"
            return
        try:
            stats = run_analysis(
                run.sidecar,
                plan,
                plan.analyse,
                run.settings.sonic,
                on_stored=run.source.on_features,
                on_failure=lambda message: run.settings.say(f"  failed: {message}"),
                progress=lambda line: run.settings.say(f"  {line}"),
            )
        except SonicRunError as exc:
            raise StageError(str(exc)) from exc
        result.counts = {
            "tracks": n,
            "analysed": stats.analysed,
            "failed": stats.failed,
            "relinked": len(plan.relink),
            "up_to_date": plan.up_to_date,
            "failed_before": plan.failed_before,
            "missing": len(plan.missing),
        }
        if not plan.analyse and not plan.relink:
            result.result = "up-to-date"
        problems = [f"{stats.failed} failed"] if stats.failed else []
        problems += [f"{len(plan.missing)} missing"] if plan.missing else []
        if problems:
            result.result = "warning"
            result.message = ", ".join(problems) + " (see `beet sonicanalysis -p`)"


@dataclass
class PairPlan:
    fresh: bool  # the file at the target was built from the current inputs
    n_tracks: int
    n_detail: int  # with genres (genre-sim) / with sonic features (artifacts)


class GenreSimStage(Stage[PairPlan]):
    name = "genre-sim"

    def plan(self, run: PipelineRun) -> PairPlan:
        genre_sets = run.inputs().genre_sets()
        fresh = stored_fingerprint(run.target / GENRE_SIM_FILE) == run.fingerprints()[0]
        with_genres = sum(1 for g in genre_sets if g)
        return PairPlan(fresh and not run.settings.force, len(genre_sets), with_genres)

    def describe(self, run: PipelineRun, plan: PairPlan) -> str:
        state = "up to date" if plan.fresh else "would be written"
        return (
            f"{plan.n_tracks} tracks, {plan.n_detail} with genres -> "
            f"{run.target / GENRE_SIM_FILE} ({state})"
        )

    def run(self, run: PipelineRun, plan: PairPlan, result: StageResult) -> None:
        from .genre_sim import build_genre_similarity

        result.counts = {"tracks": plan.n_tracks, "tracks_with_genres": plan.n_detail}
        if plan.fresh:
            result.result = "up-to-date"
            return
        genre = run.settings.genre
        sim = build_genre_similarity(
            run.inputs().genre_sets(), min_count=genre.min_count, max_genres=genre.max_genres
        )
        sim.stats["fingerprint"] = run.fingerprints()[0]
        run.new_genre_sim = sim  # written with the artifacts, as one pair
        result.counts["genres"] = len(sim.vocab)


class ArtifactsStage(Stage[PairPlan]):
    name = "artifacts"

    def plan(self, run: PipelineRun) -> PairPlan:
        genre_fp, artifacts_fp = run.fingerprints()
        fresh = (
            stored_fingerprint(run.target / DATA_FILE) == artifacts_fp
            and stored_fingerprint(run.target / GENRE_SIM_FILE) == genre_fp
        )
        n_tracks = len(run.inputs().tracks)
        return PairPlan(fresh and not run.settings.force, n_tracks, run.n_with_sonic())

    def describe(self, run: PipelineRun, plan: PairPlan) -> str:
        state = "up to date" if plan.fresh else "would be written"
        if plan.n_detail < 2:
            state = "would fail: at least 2 are needed"
        return (
            f"{plan.n_detail} of {plan.n_tracks} tracks have sonic features -> "
            f"{run.target / DATA_FILE} ({state})"
        )

    def run(self, run: PipelineRun, plan: PairPlan, result: StageResult) -> None:
        result.counts = {"tracks": plan.n_tracks, "with_sonic": plan.n_detail}
        if plan.n_detail < 2:
            raise StageError(
                f"{_query_words(run.settings.query)}: {plan.n_detail} of {plan.n_tracks} tracks "
                "have sonic features, at least 2 are needed (run `beet sonicanalysis` first); "
                "nothing written"
            )
        if plan.fresh and run.new_genre_sim is None:
            result.result = "up-to-date"
            return
        built = self.build_pair(run)
        result.counts = dict(built)

    @staticmethod
    def build_pair(run: PipelineRun) -> dict[str, Any]:
        """Write both files into a staging folder, verify them together, then rename them over
        the previous pair. Any failure removes the staging folder and leaves the pair alone."""
        from .artifacts import build_artifacts
        from .genre_sim import load_genre_similarity
        from .verify import verify_artifacts

        genre_fp, artifacts_fp = run.fingerprints()
        target = run.target
        try:
            target.mkdir(parents=True, exist_ok=True)
            staging = staging_dir(target)
            for name in (GENRE_SIM_FILE, DATA_FILE):  # left by an older, killed writer
                remove_stale_temp_files(target / name)
        except OSError as exc:
            raise StageError(f"cannot create {target}: {exc.strerror or exc}") from exc
        except OutputWriteError as exc:
            raise StageError(str(exc)) from exc
        try:
            sim = run.new_genre_sim
            if sim is not None:
                sim.save(staging / GENRE_SIM_FILE)
            else:
                sim = load_genre_similarity(target / GENRE_SIM_FILE)
                shutil.copy2(target / GENRE_SIM_FILE, staging / GENRE_SIM_FILE)
            features = run.sidecar.features_for_items([t.item_id for t in run.inputs().tracks])
            built = build_artifacts(
                track_records(run.inputs(), features),
                sim,
                staging,
                config=run.settings.artifacts,
                fingerprint=artifacts_fp,
                meta={
                    "library": run.settings.library_path,
                    "sidecar": str(run.sidecar.path),
                    "limit": run.settings.limit,
                    "query": list(run.settings.query),
                    "genre_sim_fingerprint": genre_fp,
                },
            )
            del features  # ~220 MB at 100k tracks: not held while verify reads the matrices
            report = verify_artifacts(staging, expected_fingerprint=artifacts_fp)
            if report.errors:
                raise StageError(
                    f"the new artifacts failed verification, the previous ones are kept: "
                    f"{'; '.join(report.errors[:3])}"
                )
            for name in (GENRE_SIM_FILE, DATA_FILE):
                os.replace(staging / name, target / name)
        except (ValueError, OutputWriteError) as exc:  # one line: shapes, ids, disk full
            raise StageError(str(exc)) from exc
        except OSError as exc:  # copying the kept genre-sim file, or the final renames
            raise StageError(f"cannot write {target}: {exc.strerror or exc}") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        run.verified = report
        return dict(built.counts)


class VerifyStage(Stage[None]):
    name = "verify"

    def plan(self, run: PipelineRun) -> None:
        return None

    def describe(self, run: PipelineRun, plan: None) -> str:
        return f"would check {run.target}"

    def run(self, run: PipelineRun, plan: None, result: StageResult) -> None:
        from .verify import verify_artifacts

        # The pair just built was verified in its staging folder: the same files, same verdict.
        report = run.verified or verify_artifacts(
            run.target, expected_fingerprint=run.fingerprints()[1]
        )
        for line in report.summary_lines():
            run.settings.say(f"  {line}")
        result.counts = dict(report.stats)
        if report.errors:
            raise StageError(f"{len(report.errors)} errors: {'; '.join(report.errors[:3])}")
        if report.warnings:
            result.result = "warning"
            result.message = "; ".join(report.warnings[:3])


STAGE_TYPES: dict[str, Stage[Any]] = {
    stage.name: stage
    for stage in (DiscogsStage(), SonicStage(), GenreSimStage(), ArtifactsStage(), VerifyStage())
}


def _query_words(query: Sequence[str]) -> str:
    return f"query '{' '.join(query)}'" if query else "the library"


def dry_run(run: PipelineRun) -> list[str]:
    """What each selected stage would do; writes and creates nothing."""
    lines = []
    for name in run.settings.stages:
        stage = STAGE_TYPES[name]
        lines.append(f"  {name + ':':<10} {stage.describe(run, stage.plan(run))}")
    return lines


def execute(run: PipelineRun) -> bool:
    """Run the selected stages in order; write the run report and build state. True when no
    stage ended in an error."""
    started = time.time()
    ok = True
    for name in run.settings.stages:
        stage = STAGE_TYPES[name]
        result = StageResult(name)
        t0 = time.monotonic()
        run.settings.say(f"[{name}]")
        try:
            stage.run(run, stage.plan(run), result)
        except StageError as exc:
            result.result, result.message, ok = "error", str(exc), False
        result.duration_s = round(time.monotonic() - t0, 3)
        run.results.append(result)
        run.settings.say(result.line())
        if result.result == "error" and name in PAIR:
            break  # later stages would read what this one failed to write
    if _pair_built(run.results):
        # The state describes what the pair was built from, whatever an earlier stage did.
        state = BuildState(run.inputs_signature(), list(run.settings.query), run.settings.limit)
        try:
            write_text_atomic(run.target / BUILD_STATE_FILE, state.to_json())
        except OutputWriteError as exc:
            run.settings.say(f"error: {exc}")
            ok = False
    try:
        write_run_report(run, started, ok)
    except OutputWriteError as exc:  # e.g. the disk that stopped a stage is still full
        run.settings.say(f"run report not written: {exc}")
    return ok


def _pair_built(results: Sequence[StageResult]) -> bool:
    """The artifacts stage ran, and neither the pair nor its verification failed."""
    checked = (*PAIR, "verify")
    return any(r.name == "artifacts" for r in results) and not any(
        r.result == "error" and r.name in checked for r in results
    )


def write_run_report(run: PipelineRun, started: float, ok: bool) -> None:
    """The run report goes into the artifacts folder; a failed partial build (a query or a
    limit) creates no folder just for its report."""
    partial = bool(run.settings.query) or run.settings.limit is not None
    if not ok and partial and not run.target.is_dir():
        return
    report = {
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "duration_s": round(time.time() - started, 3),
        "ok": ok,
        "limit": run.settings.limit,
        "query": list(run.settings.query),
        "out_dir": str(run.target),
        "stages": [r.__dict__ for r in run.results],
        "totals": {
            "stages": len(run.results),
            "errors": sum(r.result == "error" for r in run.results),
            "warnings": sum(r.result == "warning" for r in run.results),
        },
    }
    path = run.target / RUN_REPORT_FILE
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str)
    write_text_atomic(path, text)
    # A call that built something is also kept apart, so the next no-op call (every stage
    # up to date; verify only checks) does not hide it from `beet dsreport`.
    if any(r.result in ("ok", "warning") and r.name != "verify" for r in run.results) and (
        ok or _pair_built(run.results)
    ):
        write_text_atomic(run.target / LAST_BUILD_REPORT_FILE, text)
    run.settings.say(f"Run report: {path}")
