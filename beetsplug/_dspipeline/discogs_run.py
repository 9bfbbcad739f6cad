"""A Discogs enrichment run over many albums: selection, lookups, storage, progress, summary."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .discogs_http import DiscogsClient
from .discogs_match import AlbumQuery, LookupResult, lookup_album
from .sidecar import AlbumRow, DiscogsOutcome, Sidecar

PROGRESS_EVERY = 50


@dataclass(frozen=True)
class DiscogsSettings:
    """Everything a lookup run needs to know from the user's configuration."""

    token: str
    base_url: str = "https://api.discogs.com"
    user_agent: str = "beets-dspipeline/0.1 (beets plugin)"
    timeout: float = 15.0
    retries: int = 4
    requests_per_minute: int = 60
    threshold: float = 0.55
    strict_artist: bool = False

    def __repr__(self) -> str:  # the token never reaches a log or a traceback
        return f"DiscogsSettings(base_url={self.base_url!r}, token=<redacted>)"

    def client(self) -> DiscogsClient:
        """One client per settings and process: its rate limiter must see every request (an
        import looks albums up one stage call at a time)."""
        return _shared_client(self)


@functools.lru_cache(maxsize=4)
def _shared_client(settings: DiscogsSettings) -> DiscogsClient:
    return DiscogsClient(
        settings.base_url.rstrip("/"),
        settings.token,
        settings.user_agent,
        timeout=settings.timeout,
        max_retries=settings.retries,
        rate_limit_per_min=settings.requests_per_minute,
    )


@dataclass(frozen=True)
class AlbumTarget:
    """One album to look up: its sidecar row and what to ask Discogs."""

    row: AlbumRow
    query: AlbumQuery


@dataclass
class Selection:
    todo: list[AlbumTarget]
    already_done: int
    limited: int = 0


@dataclass
class RunSummary:
    processed: int = 0
    hits: int = 0
    misses: int = 0
    errors: int = 0
    requests: int = 0
    elapsed: float = 0.0
    error_messages: list[str] = field(default_factory=list)

    @property
    def requests_per_album(self) -> float:
        return self.requests / self.processed if self.processed else 0.0

    @property
    def all_failed(self) -> bool:
        """Every lookup ended in an error (Discogs down, a bad token): none gave a hit or miss."""
        return bool(self.errors) and not self.hits + self.misses

    def all_failed_message(self) -> str:
        return (
            f"all {self.errors} lookups failed (first: {self.error_messages[0]}); nothing was "
            "stored, they are retried next run"
        )

    def lines(self, skipped: int) -> list[str]:
        return [
            f"Discogs: {self.processed} processed: {self.hits} hits, {self.misses} misses, "
            f"{self.errors} errors, {skipped} skipped",
            f"Discogs: {self.requests} requests ({self.requests_per_album:.2f}/album) "
            f"in {self.elapsed:.1f}s",
        ]


def select_targets(
    targets: Sequence[AlbumTarget],
    sidecar: Sidecar,
    *,
    force: bool = False,
    recheck_empty: bool = False,
    limit: int | None = None,
) -> Selection:
    """Which albums need a lookup.

    Default: albums with no Discogs row at all (an ``__EMPTY__`` marker counts as done; albums
    whose last lookup failed have no row and are retried). ``recheck_empty``: only albums marked
    ``__EMPTY__``. ``force``: every album (with ``recheck_empty``: every empty one).
    """
    if recheck_empty:
        empty = sidecar.albums_marked_empty()
        todo = [t for t in targets if t.row.album_id in empty]
    elif force:
        todo = list(targets)
    else:
        done = sidecar.albums_with_discogs_rows()
        todo = [t for t in targets if t.row.album_id not in done]
    # One lookup per album key even when the library holds the same album twice.
    todo = list({t.row.album_id: t for t in todo}.values())
    already_done = len(targets) - len(todo)
    limited = 0
    if limit is not None and len(todo) > limit:
        limited = len(todo) - limit
        todo = todo[:limit]
    return Selection(todo=todo, already_done=already_done, limited=limited)


def progress_line(done: int, total: int, hits: int, elapsed: float) -> str:
    """``Discogs: 50/3788 processed (22 hits, est 284s remaining)``."""
    remaining = (total - done) * elapsed / done if done else 0.0
    return f"Discogs: {done}/{total} processed ({hits} hits, est {remaining:.0f}s remaining)"


def to_outcome(result: LookupResult) -> DiscogsOutcome:
    return DiscogsOutcome(
        status=result.status,
        genres=tuple(result.genres),
        styles=tuple(result.styles),
        release_id=result.release_id,
        master_id=result.master_id,
        score=result.score,
        matched_title=result.matched_title,
        error=result.error,
        requests=result.requests,
    )


def run_lookups(
    settings: DiscogsSettings,
    sidecar: Sidecar,
    todo: Sequence[AlbumTarget],
    *,
    on_result: Callable[[AlbumTarget, LookupResult], None] | None = None,
    progress: Callable[[str], None] | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> RunSummary:
    """Look up each album and store the outcome before going on (so a kill loses at most one)."""
    client = settings.client()
    summary = RunSummary()
    started = time.monotonic()
    for target in todo:
        result = lookup_album(
            client, target.query, threshold=settings.threshold, strict_artist=settings.strict_artist
        )
        sidecar.store_discogs_outcome(target.row, to_outcome(result))
        summary.processed += 1
        summary.requests += result.requests
        if result.status == "hit":
            summary.hits += 1
        elif result.status == "miss":
            summary.misses += 1
        else:
            summary.errors += 1
            summary.error_messages.append(
                f"{target.row.albumartist} - {target.row.album}: {result.error}"
            )
        if on_result is not None:
            on_result(target, result)
        if progress is not None and summary.processed % progress_every == 0:
            elapsed = time.monotonic() - started
            progress(progress_line(summary.processed, len(todo), summary.hits, elapsed))
    summary.elapsed = time.monotonic() - started
    return summary
