"""What `beet dsplaylist` prints about a playlist or journey, and its ``--format json`` form."""

from __future__ import annotations

from typing import Any

from .journey import Journey
from .playlist import STEP_NAMES, Playlist, PlaylistEntry, Rejection

__all__ = ["explain_lines", "playlist_json", "summary_line"]


def summary_line(result: Playlist | Journey) -> str:
    """One line: length, mode and how each track was chosen (or the journey's step sizes)."""
    head = f"{len(result.entries)} of {result.requested} tracks"
    if isinstance(result, Journey):
        return (
            f"{head} (journey, {result.mode}): largest step {result.largest_step:.3f}, "
            f"mean step {result.mean_step:.3f}"
            + ("" if len(result.entries) == result.requested else _JOURNEY_SHORT)
        )
    counts = result.step_counts()
    parts = [f"{n} {'seed' if n == 1 else 'seeds'}" for step, n in counts.items() if step == "seed"]
    if result.steering_seeds > counts.get("seed", 0):
        parts[-1:] = [f"{parts[-1] if parts else '0 seeds'} ({result.steering_seeds} steering)"]
    parts += [f"{n} {STEP_NAMES[step]}" for step, n in counts.items() if step != "seed"]
    line = f"{head} ({result.mode}): {', '.join(parts)}"
    if len(result.entries) < result.requested:
        line += _STRICT_SHORT if result.strict else _LIBRARY_SHORT
    return line


_STRICT_SHORT = (
    "; --strict: no more tracks pass the filters and caps "
    "(without --strict they are relaxed to fill the list)"
)
_LIBRARY_SHORT = (
    "; the library has no more tracks to offer (seeds, exclusions, repeats of a song and "
    "missing files are never listed)"
)
_JOURNEY_SHORT = (
    "; shorter: more tracks between the waypoints would need a step beyond 1.5 × the median "
    "nearest-neighbour distance, or a step back"
)


def _rejection_json(rejection: Rejection) -> dict[str, Any]:
    return {
        "artist": rejection.artist,
        "title": rejection.title,
        "score": round(rejection.score, 6),
        "reason": rejection.reason,
    }


def _entry_json(entry: PlaylistEntry) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": entry.item_id,
        "path": entry.path,
        "artist": entry.artist,
        "title": entry.title,
        "score": round(entry.score, 6),
        "step": entry.step,
    }
    if entry.rejected:
        record["passed_over"] = [_rejection_json(r) for r in entry.rejected]
    return record


def playlist_json(result: Playlist | Journey) -> dict[str, Any]:
    """A JSON-ready document: what was asked, and the tracks in play order."""
    document: dict[str, Any] = {
        "kind": "journey" if isinstance(result, Journey) else "playlist",
        "mode": result.mode,
        "requested": result.requested,
        "tracks": [_entry_json(entry) for entry in result.entries],
    }
    if isinstance(result, Journey):
        document["steps"] = [round(step, 6) for step in result.steps]
        document["largest_step"] = round(result.largest_step, 6)
    else:
        document["strict"] = result.strict
        document["counts"] = result.step_counts()
        if result.passed_over:
            document["passed_over_at_end"] = [_rejection_json(r) for r in result.passed_over]
    return document


def explain_lines(rejections: tuple[Rejection, ...], label: str = "passed over") -> list[str]:
    """Indented lines, one per rejected candidate: who, its score and why."""
    return [
        f"      {label}: {r.artist} – {r.title} ({r.score:.3f}): {r.reason}" for r in rejections
    ]
