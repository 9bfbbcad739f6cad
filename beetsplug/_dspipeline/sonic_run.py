"""A sonic analysis run over many tracks: what to do with each (plan), then doing it (run).

Used by `beet sonicanalysis`, the `sonic` stage of `beet buildartifacts` and the import
listener alike. Plain records in, sidecar rows out; never imports beets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .sidecar import FileIdentity, Sidecar, SonicIndex, StoredFeatures
from .sonic.layout import EXTRACTOR_NAME, EXTRACTOR_VERSION

if TYPE_CHECKING:
    from .sonic.executor import AnalysisOutcome
    from .sonic.extract import TrackFeatures

PROGRESS_SECONDS = 5.0


class SonicRunError(Exception):
    """The run cannot start or go on (executor set-up, unreachable scheduler): one line."""


class Interrupted(SystemExit):
    """SIGINT or SIGTERM stopped a run after it stored what had arrived: exit status
    128 + the signal number (130, 143), as a shell reports a process killed by it."""


class _SigtermError(BaseException):
    """Like KeyboardInterrupt, not an Exception: per-file `except Exception` must not eat it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises in the main thread (as SIGINT does), so a run can stop in order."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        raise _SigtermError(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class SonicTrack:
    """One library track to analyse: its beets item id and file path (bytes, as beets keeps)."""

    item_id: int
    path: bytes
    length: float = 0.0  # seconds, as the library knows it (for the ETA; 0 when unknown)


@dataclass(frozen=True)
class SonicSettings:
    workers: int  # >= 1
    executor: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    path_map: tuple[tuple[str, str], ...] = ()


@dataclass
class SonicPlan:
    """What a run will do with the given tracks."""

    analyse: list[SonicTrack] = field(default_factory=list)
    relink: list[tuple[SonicTrack, FileIdentity, str]] = field(default_factory=list)
    up_to_date: int = 0
    failed_before: int = 0
    missing: list[SonicTrack] = field(default_factory=list)

    def summary(self, n_analyse: int | None = None, *, dry_run: bool = False) -> str:
        n = len(self.analyse) if n_analyse is None else n_analyse
        verb = "would be" if dry_run else "to be"
        return (
            f"{n} tracks {verb} analysed, {len(self.relink)} relinked (moved or re-tagged), "
            f"{self.up_to_date} up to date, {self.failed_before} failed before, "
            f"{len(self.missing)} missing files"
        )


@dataclass
class Progress:
    """Counts of a run, and its ETA from seconds of audio (track lengths vary 100-fold)."""

    total: int
    total_seconds: float = 0.0
    done: int = 0
    failed: int = 0
    done_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    last_print: float = field(default_factory=time.monotonic)

    @property
    def analysed(self) -> int:
        return self.done - self.failed

    def start_line(self, workers: int) -> str:
        return (
            f"Sonic: analysing {self.total} tracks ({_duration(self.total_seconds)} of audio) "
            f"with {workers} worker{'s' if workers != 1 else ''}"
        )

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        if self.done_seconds > 0 and self.total_seconds > 0:
            speed = self.done_seconds / elapsed  # seconds of audio per second
            eta = max(self.total_seconds - self.done_seconds, 0.0) / speed
            rate = f"{speed:.0f}x realtime"
        else:
            speed = self.done / elapsed
            eta = (self.total - self.done) / speed if speed > 0 else 0.0
            rate = f"{speed:.2f} tracks/s"
        return (
            f"Sonic: {self.done}/{self.total} analysed ({rate}, ETA {eta:.0f}s, "
            f"{self.failed} failed)"
        )


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


def file_identity(path: bytes) -> FileIdentity | None:
    """Path, size and mtime of a file; None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileIdentity(bytes(path), st.st_size, st.st_mtime)


def _current(index: SonicIndex, audio_key: str) -> bool:
    return index.versions.get(audio_key) == EXTRACTOR_VERSION


def plan_analysis(
    tracks: Sequence[SonicTrack],
    sidecar: Sidecar,
    library_item_ids: Collection[int],
    *,
    force: bool,
    retry_failed: bool,
) -> SonicPlan:
    """Decide per track: up to date, relink to known audio, analyse, or skip a past failure.

    The file's identity (path, size, mtime) is checked first; only files that changed
    identity are decoded and hashed to recognise audio already analysed (move, re-import,
    tag edit), so an unchanged library costs no decoding at all. ``library_item_ids`` are all
    item ids of the library: features of items that left it may match new files.
    """
    from .sonic.decode import audio_hash
    from .sonic.extract import AnalysisError

    plan = SonicPlan()
    index = sidecar.sonic_index()
    # Only when stored features belong to no current item is hashing a new file worth a decode.
    may_match_known = bool(index.links.keys() - set(library_item_ids))
    may_match_known = may_match_known or index.has_unlinked_features()
    for track in tracks:
        ident = file_identity(track.path)
        if ident is None:
            plan.missing.append(track)
            continue
        if force:
            plan.analyse.append(track)
            continue
        link = index.links.get(track.item_id)
        if link is not None and link[0] == ident and _current(index, link[1]):
            plan.up_to_date += 1
            continue
        failure = index.failures.get(track.item_id)
        if failure is not None and failure[0] == ident and not retry_failed:
            plan.failed_before += 1
            continue
        key = index.key_for_identity(ident)
        if key is None and (link is not None or may_match_known):
            try:
                key = audio_hash(track.path)
            except AnalysisError:
                key = None  # the analysis will record why
        if key is not None and _current(index, key):
            plan.relink.append((track, ident, key))
        else:
            plan.analyse.append(track)
    return plan


def run_analysis(
    sidecar: Sidecar,
    plan: SonicPlan,
    todo: Sequence[SonicTrack],
    settings: SonicSettings,
    *,
    on_stored: Callable[[int, TrackFeatures], None] | None = None,
    on_failure: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Progress:
    """Relink, record missing files, analyse ``todo`` and store each outcome as it arrives
    (a kill loses at most the tracks in flight). ``on_stored(item_id, features)`` runs after
    each stored vector (the beets side sets ``bpm`` there)."""
    from .sonic.executor import AnalysisJob, run_jobs

    for track, ident, key in plan.relink:
        sidecar.link_file(track.item_id, ident, key)
    for track in plan.missing:
        message = f"{os.fsdecode(track.path)}: file not found"
        sidecar.record_failure(track.item_id, track.path, None, "missing", message)
    result = Progress(total=len(todo), total_seconds=sum(track.length for track in todo))
    if not todo:
        return result
    if progress is not None:  # the first line at once, not after the first slow track
        progress(result.start_line(settings.workers))
    if settings.executor == "dask" and not settings.scheduler:
        raise SonicRunError("--executor dask needs --scheduler tcp://host:8786")
    by_id = {track.item_id: track for track in todo}
    # Longest first when several processes share the work: the last ones to finish then
    # finish short tracks, instead of one core analysing a long track while the others idle.
    order = sorted(todo, key=lambda t: -t.length) if settings.workers > 1 else todo
    jobs = [AnalysisJob(track.item_id, os.fsdecode(track.path)) for track in order]
    try:
        outcomes = run_jobs(
            jobs,
            workers=settings.workers,
            executor=settings.executor,
            scheduler=settings.scheduler,
            path_map=list(settings.path_map),
        )
    except ImportError as exc:
        raise SonicRunError(
            f"the dask executor needs the [dask] extra (pip install "
            f"'beets-dspipeline[dask]'): {exc}"
        ) from exc
    try:
        with _sigterm_raises():
            for outcome in outcomes:
                failure = store_outcome(sidecar, by_id[outcome.key], outcome, result, on_stored)
                if failure and on_failure is not None:
                    on_failure(failure)
                now = time.monotonic()
                if progress is not None and now - result.last_print >= PROGRESS_SECONDS:
                    result.last_print = now
                    progress(result.line())
    except (KeyboardInterrupt, _SigtermError) as exc:
        # Every stored row is a committed transaction; stop the workers, keep the rows.
        outcomes.close()
        if progress is not None:
            progress(f"Sonic: interrupted; {result.analysed} tracks kept")
        signum = exc.signum if isinstance(exc, _SigtermError) else signal.SIGINT
        raise Interrupted(128 + signum) from None
    except OSError as exc:  # the Dask scheduler cannot be reached (or went away)
        if settings.executor != "dask":
            raise
        raise SonicRunError(f"Dask scheduler {settings.scheduler}: {exc}") from exc
    return result


def store_outcome(
    sidecar: Sidecar,
    track: SonicTrack,
    outcome: AnalysisOutcome,
    progress: Progress,
    on_stored: Callable[[int, TrackFeatures], None] | None = None,
) -> str | None:
    """Store one outcome; returns the failure message, None on success."""
    progress.done += 1
    progress.done_seconds += track.length
    ident = file_identity(track.path)
    feats = outcome.features
    if feats is None or ident is None:
        progress.failed += 1
        reason = outcome.reason or "missing"
        message = outcome.message or f"{outcome.path}: file not found"
        sidecar.record_failure(track.item_id, track.path, ident, reason, message)
        return message
    sidecar.store_features(
        track.item_id,
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
    if on_stored is not None:
        on_stored(track.item_id, feats)
    return None
