"""Self-contained static HTML report of the pipeline (one file; plots as base64 PNG or inline SVG).

Sections: coverage, top genres (every source, as the artifacts and verify count them) and
styles, clustered genre-similarity heat map, a sonic map of the library (inline SVG, coloured by
album or top genre, artist – title on hover), a playlist preview, BPM histogram, the last
pipeline call and the last full build. The caller gathers the library/sidecar numbers into
:class:`ReportData`; the sections that need the DS artifacts read the npz files themselves and
say so when the files are not built yet. matplotlib (the ``report`` extra) is imported lazily,
through its object API only, so no global pyplot state or display backend is involved.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from .artifact_format import DATA_FILE, GENRE_SIM_FILE, LAST_BUILD_REPORT_FILE, RUN_REPORT_FILE
from .genre_sim import load_genre_similarity
from .genres import GenreNormaliser
from .npzio import ArtifactFileError, load_npz, write_text_atomic
from .sidecar import DISCOGS_SOURCES, DISCOGS_STYLE_SOURCE, AlbumRow, Sidecar

if TYPE_CHECKING:
    from .pipeline import LibraryTrack

__all__ = [
    "HEATMAP_GENRES",
    "MAP_MAX_POINTS",
    "ReportData",
    "ReportError",
    "clustered_order",
    "gather_report_data",
    "write_report",
]

HEATMAP_GENRES = 40
MAP_MAX_POINTS = 3_000  # SVG circles drawn; more only makes the page heavy
TOP_COUNTS = 25


class ReportError(RuntimeError):
    """The report cannot be written; the message is one line."""


@dataclass
class ReportData:
    """Numbers for the report, gathered by the caller from the library and the sidecar.

    Album counts refer to the Discogs genre lookup; track counts to the sonic analysis.
    ``*_by_reason`` map a failure reason to its count; ``genre_counts`` / ``style_counts`` map a
    name to the number of tracks carrying it (every source). ``run_report`` is the parsed run
    report of the last ``buildartifacts`` call, ``last_build`` the one of the last call that
    built something (None when none was recorded). ``album_names`` maps album keys (the
    artifacts' ``album_ids``) to "Album artist – Album" for the map's legend.
    """

    n_albums: int = 0
    albums_with_genres: int = 0
    album_misses: int = 0
    album_errors: int = 0
    album_errors_by_reason: Mapping[str, int] = field(default_factory=dict)
    n_tracks: int = 0
    tracks_with_sonic: int = 0
    sonic_failures_by_reason: Mapping[str, int] = field(default_factory=dict)
    tracks_without_genre: int = 0
    genre_counts: Mapping[str, int] = field(default_factory=dict)
    style_counts: Mapping[str, int] = field(default_factory=dict)
    run_report: Mapping[str, Any] | None = None
    last_build: Mapping[str, Any] | None = None
    album_names: Mapping[str, str] = field(default_factory=dict)
    library: str = ""
    title: str = "beets-dspipeline report"
    generated_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    )


def gather_report_data(
    sidecar: Sidecar,
    tracks: Sequence[LibraryTrack],
    albums: Sequence[AlbumRow],
    artifacts_dir: Path,
    library: str,
) -> ReportData:
    """Coverage and counts of the queried `tracks` and `albums` from the sidecar, and the run
    reports from `artifacts_dir`."""
    album_keys = {row.album_id for row in albums}
    genres = sidecar.album_genres()
    errors = sidecar.discogs_errors()
    item_ids = {t.item_id for t in tracks}
    failures = Counter(f.reason for f in sidecar.failures() if f.item_id in item_ids)

    normaliser = GenreNormaliser()
    genre_counts: Counter[str] = Counter()
    style_counts: Counter[str] = Counter()
    without_genre = 0
    for track in tracks:
        rows = genres.get(track.album_key, []) if track.album_key else []
        style_counts.update(g for g, s in rows if s == DISCOGS_STYLE_SOURCE)
        # Every source counts once per track: the sidecar's album genres and beets' genres.
        raw = [g for g, _ in rows] + list(track.genres)
        names = {name for g in raw for name in normaliser.normalise(g)}
        genre_counts.update(names)
        if not names:
            without_genre += 1
    return ReportData(
        n_albums=len(album_keys),
        albums_with_genres=sum(
            1 for k in album_keys if any(s in DISCOGS_SOURCES for _, s in genres.get(k, []))
        ),
        album_misses=len(album_keys & sidecar.albums_marked_empty()),
        album_errors=sum(1 for k in album_keys if k in errors),
        album_errors_by_reason=dict(
            Counter(msg.split(":", 1)[0] for key, msg in errors.items() if key in album_keys)
        ),
        n_tracks=len(tracks),
        tracks_with_sonic=len(sidecar.features_for_items(sorted(item_ids))),
        sonic_failures_by_reason=dict(failures),
        tracks_without_genre=without_genre,
        genre_counts=dict(genre_counts),
        style_counts=dict(style_counts),
        run_report=_read_run_report(artifacts_dir / RUN_REPORT_FILE),
        last_build=_read_run_report(artifacts_dir / LAST_BUILD_REPORT_FILE),
        album_names={row.album_id: f"{row.albumartist} – {row.album}" for row in albums},
        library=library,
    )


def _read_run_report(path: Path) -> dict[str, Any] | None:
    """A run report's contents; a note in its place when it is unreadable; None when absent."""
    if not path.exists():
        return None
    try:
        report = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {"note": f"{path} is unreadable"}
    return report if isinstance(report, dict) else {"note": f"{path} is not a run report"}


def write_report(data: ReportData, artifacts_dir: Path, out_path: Path) -> Path:
    """Write the HTML report for ``data`` and the artifacts in ``artifacts_dir`` to ``out_path``.

    Written atomically; returns ``out_path``. Raises ReportError when matplotlib is missing or an
    artifact file is unreadable (missing artifact files only leave a note in their section).
    """
    figure_class = _figure_class()
    artifacts_dir = Path(artifacts_dir)
    out_path = Path(out_path)
    arrays = _load_matrices(artifacts_dir / DATA_FILE)
    sections = [
        _coverage_section(data),
        _counts_section(data, arrays, figure_class),
        _heatmap_section(artifacts_dir / GENRE_SIM_FILE, figure_class),
        *_matrices_sections(artifacts_dir / DATA_FILE, arrays, data, figure_class),
        _runs_section(data.run_report, data.last_build),
    ]
    page = _PAGE.format(
        title=_esc(data.title),
        library=_esc(data.library or "(unknown library)"),
        generated=_esc(data.generated_at),
        artifacts=_esc(str(artifacts_dir)),
        body="\n".join(sections),
    )
    write_text_atomic(out_path, page)
    return out_path


# -- plumbing ---------------------------------------------------------------------------------


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure  # optional extra: imported lazily
    except ImportError:
        raise ReportError(
            "matplotlib is not installed; the report needs it "
            "(pip install 'beets-dspipeline[report]')"
        ) from None
    return Figure


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _plot_label(text: str) -> str:
    # matplotlib reads "$...$" as math; library strings are plain text.
    return text.replace("$", r"\$")


def _png(figure: Any) -> str:
    """An <img> with the figure as base64 PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{encoded}">'


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{_esc(title)}</h2>\n{body}\n</section>'


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


def _row(label: str, key: str, value: int, whole: int | None = None) -> str:
    share = f"<td>{_share(value, whole)}</td>" if whole is not None else "<td></td>"
    return f'<tr><th>{_esc(label)}</th><td data-key="{key}">{value}</td>{share}</tr>'


def _reason_table(title: str, key: str, by_reason: Mapping[str, int]) -> str:
    if not by_reason:
        return ""
    rows = "".join(
        f'<tr><td>{_esc(reason)}</td><td data-key="{key}">{count}</td></tr>'
        for reason, count in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return f"<h3>{_esc(title)}</h3><table><tr><th>reason</th><th>count</th></tr>{rows}</table>"


# -- sections ---------------------------------------------------------------------------------


def _coverage_section(data: ReportData) -> str:
    rows = [
        _row("albums", "n_albums", data.n_albums),
        _row(
            "albums with Discogs genres",
            "albums_with_genres",
            data.albums_with_genres,
            data.n_albums,
        ),
        _row("Discogs misses", "album_misses", data.album_misses, data.n_albums),
        _row("Discogs errors", "album_errors", data.album_errors, data.n_albums),
        _row("tracks", "n_tracks", data.n_tracks),
        _row(
            "tracks with sonic features", "tracks_with_sonic", data.tracks_with_sonic, data.n_tracks
        ),
        _row(
            "sonic failures",
            "sonic_failures",
            sum(data.sonic_failures_by_reason.values()),
            data.n_tracks,
        ),
        _row(
            "tracks without any genre",
            "tracks_without_genre",
            data.tracks_without_genre,
            data.n_tracks,
        ),
    ]
    body = (
        f"<table>{''.join(rows)}</table>"
        + _reason_table(
            "Discogs errors by reason", "album_error_reason", data.album_errors_by_reason
        )
        + _reason_table(
            "Sonic failures by reason", "sonic_failure_reason", data.sonic_failures_by_reason
        )
    )
    return _section("Coverage", body, "coverage")


def _top(counts: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def _artifact_genre_counts(arrays: Mapping[str, np.ndarray] | None) -> dict[str, int] | None:
    """Tracks per genre in the artifacts (``X_genre_raw`` > 0): every source the build merged
    (Discogs, beets' genres, artist genres), normalised, exactly as verify counts them."""
    if arrays is None:
        return None
    raw, vocab = arrays["X_genre_raw"], arrays["genre_vocab"]
    counts = np.count_nonzero(raw > 0, axis=0) if raw.shape[1] else np.zeros(0, dtype=int)
    return {str(name): int(n) for name, n in zip(vocab.tolist(), counts.tolist(), strict=True)}


def _counts_section(
    data: ReportData, arrays: Mapping[str, np.ndarray] | None, figure_class: Any
) -> str:
    parts = []
    from_artifacts = _artifact_genre_counts(arrays)
    genre_counts = from_artifacts if from_artifacts is not None else data.genre_counts
    if from_artifacts is not None and arrays is not None:
        raw = arrays["X_genre_raw"]
        without = int(np.count_nonzero(~(raw > 0).any(axis=1))) if raw.shape[1] else raw.shape[0]
        parts.append(
            _note(
                "Genres as the artifacts carry them: every source (Discogs genres and styles, "
                "beets' genres field, artist genres), normalised, counted per track as "
                "`beet buildartifacts --stages verify` counts them."
            )
            + f'<table><tr><th>genres in the artifacts</th><td data-key="artifact_genres">'
            f"{len(from_artifacts)}</td></tr><tr><th>tracks without genres</th>"
            f'<td data-key="artifact_tracks_without_genres">{without}</td></tr></table>'
        )
    for label, key, counts in (
        ("genres", "genre", genre_counts),
        ("Discogs styles", "style", data.style_counts),
    ):
        top = _top(counts, TOP_COUNTS)
        if not top:
            parts.append(_note(f"No {label} recorded yet."))
            continue
        figure = figure_class(figsize=(8, 0.25 * len(top) + 1))
        axes = figure.add_subplot()
        axes.barh(
            [_plot_label(name) for name, _ in reversed(top)],
            [n for _, n in reversed(top)],
            color="#4c72b0",
        )
        axes.set_xlabel("tracks")
        axes.set_title(f"Top {len(top)} {label}")
        rows = "".join(
            f'<tr><td data-key="{key}-name">{_esc(name)}</td>'
            f'<td data-key="{key}-count">{count}</td></tr>'
            for name, count in top
        )
        parts.append(
            f'<div class="pair">{_png(figure)}<table class="counts">'
            f"<tr><th>{label.split()[-1][:-1]}</th><th>tracks</th></tr>{rows}</table></div>"
        )
    return _section("Top genres and styles", "\n".join(parts), "top-genres")


def _heatmap_section(path: Path, figure_class: Any) -> str:
    title = "Genre similarity (clustered)"
    if not path.is_file():
        return _section(title, _note(f"{path} is not built yet."), "genre-heatmap")
    try:
        sim = load_genre_similarity(path)
    except ArtifactFileError as exc:
        raise ReportError(str(exc)) from None
    if sim.vocab.shape[0] < 2:
        return _section(title, _note("Fewer than two genres in the vocabulary."), "genre-heatmap")
    top = np.argsort(-np.diag(sim.cooc), kind="stable")[:HEATMAP_GENRES]
    order = top[clustered_order(sim.S[np.ix_(top, top)])]
    names = [_plot_label(str(sim.vocab[i])) for i in order]
    size = 0.22 * len(order) + 2.5
    figure = figure_class(figsize=(size + 1.5, size))
    axes = figure.add_subplot()
    image = axes.imshow(sim.S[np.ix_(order, order)], cmap="viridis", vmin=0, vmax=1)
    axes.set_xticks(range(len(order)), names, rotation=90, fontsize=7)
    axes.set_yticks(range(len(order)), names, fontsize=7)
    figure.colorbar(image, ax=axes, shrink=0.7, label="Jaccard similarity")
    caption = (
        f"Top {len(order)} genres by track count, ordered by average-linkage clustering on "
        "1 − similarity so related genres sit together."
    )
    return _section(title, _png(figure) + _note(caption), "genre-heatmap")


def clustered_order(similarity: np.ndarray) -> np.ndarray:
    """(G,) permutation placing related genres together: the leaf order of average-linkage
    clustering (optimal leaf ordering) on distance 1 − similarity of a (G, G) matrix."""
    distance = np.clip(1.0 - (similarity + similarity.T) / 2, 0.0, 1.0).astype(np.float64)
    np.fill_diagonal(distance, 0.0)
    condensed = squareform(distance, checks=False)
    links = hierarchy.optimal_leaf_ordering(hierarchy.linkage(condensed, "average"), condensed)
    return np.asarray(hierarchy.leaves_list(links))


_MAP_KEYS = (
    "X_genre_raw",
    "genre_vocab",
    "dsp_sonic_embedding",
    "track_artists",
    "track_titles",
    "album_ids",
    "item_ids",
    "bpm_array",
)


def _load_matrices(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays the report draws from, or None when the artifacts are not built."""
    if not path.is_file():
        return None
    try:
        return load_npz(
            path, required=("X_genre_raw", "genre_vocab", "dsp_sonic_embedding"), keys=_MAP_KEYS
        )
    except ArtifactFileError as exc:
        raise ReportError(str(exc)) from None


def _matrices_sections(
    path: Path, arrays: Mapping[str, np.ndarray] | None, data: ReportData, figure_class: Any
) -> list[str]:
    titles = ("Sonic map", "library-map"), ("Playlist preview", "preview"), ("Tempo", "bpm")
    if arrays is None:
        note = _note(f"{path} is not built yet.")
        return [_section(title, note, anchor) for title, anchor in titles]
    bodies = (
        _sonic_map(arrays, data.album_names),
        _preview(path),
        _bpm_histogram(arrays.get("bpm_array"), figure_class),
    )
    return [
        _section(title, body, anchor) for (title, anchor), body in zip(titles, bodies, strict=True)
    ]


# Tableau 10: distinct, colour-blind friendlier than matplotlib's default cycle.
_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
_OTHER_COLOUR, _NONE_COLOUR = "#d0d0d0", "#ececec"


def _map_groups(
    arrays: Mapping[str, np.ndarray], album_names: Mapping[str, str]
) -> tuple[str, list[str], np.ndarray]:
    """(what colours the map, group labels, (N,) group index per track; -1 other, -2 none).

    By album when the library has at most ten albums or no genres at all, else by each
    track's strongest genre."""
    n_tracks = arrays["dsp_sonic_embedding"].shape[0]
    raw = arrays["X_genre_raw"]
    albums = arrays.get("album_ids")
    has_genre = np.asarray((raw > 0).any(axis=1) if raw.shape[1] else np.zeros(n_tracks, bool))
    album_count = 0 if albums is None else np.unique(albums).size
    if albums is not None and (album_count <= len(_PALETTE) or not has_genre.any()):
        keys, codes = np.unique(albums, return_inverse=True)
        labels = [album_names.get(str(key), f"album {key}") for key in keys]
        kind, none = "album", np.zeros(n_tracks, dtype=bool)
    else:
        codes = raw.argmax(axis=1) if raw.shape[1] else np.zeros(n_tracks, dtype=np.intp)
        labels = [str(name) for name in arrays["genre_vocab"].tolist()]
        kind, none = "top genre", np.logical_not(has_genre)
    counts = np.bincount(codes[~none], minlength=len(labels))
    shown = [int(g) for g in np.argsort(-counts, kind="stable")[: len(_PALETTE)] if counts[g]]
    group = np.full(n_tracks, -1, dtype=np.intp)
    for position, code in enumerate(shown):
        group[(codes == code) & ~none] = position
    group[none] = -2
    return kind, [labels[g] for g in shown], group


def _sonic_map(arrays: Mapping[str, np.ndarray], album_names: Mapping[str, str]) -> str:
    """Inline SVG: PCA of the sonic embedding, one circle per track with an SVG <title>."""
    sonic = np.asarray(arrays["dsp_sonic_embedding"], dtype=np.float64)
    n_tracks = sonic.shape[0]
    if n_tracks < 3:
        return _note("Too few tracks for a map.")
    centred = sonic - sonic.mean(axis=0)
    # Rows are a few dozen wide: an SVD of the covariance is cheap even for 100k tracks.
    _, singular, components = np.linalg.svd(centred.T @ centred)
    coords = centred @ components[:2].T
    explained = singular[:2] / singular.sum() if singular.sum() > 0 else np.zeros(2)
    kind, labels, group = _map_groups(arrays, album_names)
    artists = arrays.get("track_artists")
    titles = arrays.get("track_titles")
    drawn = np.random.default_rng(0).permutation(n_tracks)[:MAP_MAX_POINTS]
    # Big groups first, so small ones stay visible on top.
    drawn = drawn[np.argsort(np.where(group[drawn] < 0, -1, group[drawn]), kind="stable")]
    low, high = coords.min(axis=0), coords.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    width, height, pad = 640.0, 480.0, 12.0
    xy = pad + (coords - low) / span * [width - 2 * pad, height - 2 * pad]
    xy[:, 1] = height - xy[:, 1]  # SVG y grows downwards

    def colour(g: int) -> str:
        return _PALETTE[g] if g >= 0 else (_OTHER_COLOUR if g == -1 else _NONE_COLOUR)

    def group_label(g: int) -> str:
        return labels[g] if g >= 0 else ("other" if g == -1 else "no genre")

    circles = []
    for row in drawn.tolist():
        who = " – ".join(
            str(part[row]) for part in (artists, titles) if part is not None and str(part[row])
        )
        g = int(group[row])
        circles.append(
            f'<circle cx="{xy[row, 0]:.1f}" cy="{xy[row, 1]:.1f}" r="3.5" fill="{colour(g)}">'
            f"<title>{_esc(who)} ({_esc(group_label(g))})</title></circle>"
        )
    svg = (
        f'<svg class="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} '
        f'{height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="sonic map">{"".join(circles)}</svg>'
    )
    present = sorted({int(g) for g in group[drawn].tolist()}, key=lambda g: (g < 0, g))
    counts = {g: int(np.count_nonzero(group == g)) for g in present}
    legend = "".join(
        f'<li><span class="swatch" style="background:{colour(g)}"></span>'
        f'{_esc(group_label(g))} <span class="count">({counts[g]})</span></li>'
        for g in present
    )
    caption = (
        f"PCA of the sonic embedding (PC 1: {100 * explained[0]:.0f} %, PC 2: "
        f"{100 * explained[1]:.0f} % of the variance); {len(drawn)} of {n_tracks} tracks drawn, "
        f"coloured by {kind}. Hover a point for artist – title."
    )
    return f'<div class="pair">{svg}<ul class="legend">{legend}</ul></div>' + _note(caption)


def _preview(path: Path) -> str:
    """One seed's playlist with scores: the track nearest the middle of the sonic map."""
    from .playlist import (
        STEP_NAMES,
        ArtifactsError,
        PlaylistError,
        generate_playlist,
        load_artifacts,
    )

    try:
        art = load_artifacts(path)
    except ArtifactsError as exc:
        raise ReportError(str(exc)) from None
    seed = int(np.argmax(art.sonic @ art.sonic.mean(axis=0)))
    mode = "dynamic" if art.genre_counts[seed] > 0 else "sonic-only"
    try:
        # A preview of the artifacts: files are not checked (dsplaylist skips missing ones).
        playlist = generate_playlist(art, [seed], count=10, mode=mode, exists=lambda _: True)
    except PlaylistError as exc:
        return _note(f"No preview: {exc}.")
    rows = "".join(
        f"<tr><td>{i}</td><td>{_esc(e.artist)}</td><td>{_esc(e.title)}</td>"
        f'<td data-key="preview-score">{e.score:.3f}</td><td>{_esc(STEP_NAMES[e.step])}</td></tr>'
        for i, e in enumerate(playlist.entries, start=1)
    )
    table = (
        "<table><tr><th>#</th><th>artist</th><th>title</th><th>score</th><th>chosen as</th>"
        f"</tr>{rows}</table>"
    )
    command = f"beet dsplaylist id:{art.item_ids[seed]} -n 10 --mode {mode}"
    return table + _note(
        f"The seed is the track nearest the centre of the sonic map; the same list: {command}"
    )


def _bpm_histogram(bpm: np.ndarray | None, figure_class: Any) -> str:
    if bpm is None:
        return _note("The artifacts carry no BPM values.")
    values = np.asarray(bpm, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return _note("No track has a BPM value.")
    figure = figure_class(figsize=(8, 3.5))
    axes = figure.add_subplot()
    axes.hist(values, bins=np.arange(40, 221, 5) if values.max() <= 220 else 40, color="#55a868")
    axes.set_xlabel("BPM")
    axes.set_ylabel("tracks")
    caption = f"{values.size} tracks; median {np.median(values):.1f} BPM."
    return _png(figure) + _note(caption)


def _runs_section(last_call: Mapping[str, Any] | None, last_build: Mapping[str, Any] | None) -> str:
    title = "Pipeline runs"
    if not last_call and not last_build:
        return _section(title, _note("No run report recorded yet."), "run-report")
    parts = []
    if last_call:
        parts.append(f"<h3>Last call</h3>{_run_tables(last_call)}")
    if last_build and last_build != last_call:
        parts.append(f"<h3>Last full build</h3>{_run_tables(last_build)}")
    elif last_call:
        parts.append(_note("The last call was also the last full build."))
    return _section(title, "\n".join(parts), "run-report")


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, dict)) and not value)


def _run_tables(report: Mapping[str, Any]) -> str:
    """A run report as tables: its top-level values, then one table per list or dict value;
    empty values are left out rather than shown as ``None`` or ``[]``."""
    scalars = {
        k: v
        for k, v in report.items()
        if not _empty(v)
        and not isinstance(v, dict)
        and not (isinstance(v, list) and v and all(isinstance(r, Mapping) for r in v))
    }
    parts = [_key_value_table(scalars)] if scalars else []
    for key, value in report.items():
        if _empty(value):
            continue
        if isinstance(value, list) and all(isinstance(row, Mapping) for row in value):
            parts.append(f"<h4>{_esc(key)}</h4>{_records_table(value)}")
        elif isinstance(value, Mapping):
            parts.append(f"<h4>{_esc(key)}</h4>{_key_value_table(value)}")
    return "\n".join(parts)


def _text(value: Any) -> str:
    """A value as a reader expects it: yes/no, – for nothing, floats to 3 significant digits."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _empty(value):
        return "–"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items() if not _empty(v))
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _cell(value: Any) -> str:
    return _esc(_text(value))


def _key_value_table(values: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{_esc(k)}</th><td>{_cell(v)}</td></tr>"
        for k, v in values.items()
        if not _empty(v)
    )
    return f"<table>{rows}</table>"


def _records_table(records: Sequence[Mapping[str, Any]]) -> str:
    columns = [
        c
        for c in dict.fromkeys(key for record in records for key in record)
        if any(not _empty(r.get(c)) for r in records)
    ]
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in records
    )
    return f"<table><tr>{head}</tr>{body}</table>"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: 0.2em; }}
section {{ margin-top: 2em; border-top: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ padding: 0.2em 0.8em; text-align: left; border-bottom: 1px solid #eee; }}
td[data-key] {{ font-variant-numeric: tabular-nums; }}
img {{ max-width: 100%; }}
.pair {{ display: flex; gap: 2em; align-items: flex-start; flex-wrap: wrap; }}
.note {{ color: #666; font-size: 0.9em; }}
.meta {{ color: #666; }}
svg.map {{ border: 1px solid #eee; background: #fff; max-width: 100%; height: auto; }}
svg.map circle:hover {{ stroke: #000; stroke-width: 1.5; }}
ul.legend {{ list-style: none; padding: 0; margin: 0; font-size: 0.9em; }}
ul.legend li {{ margin: 0.15em 0; }}
.swatch {{ display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.4em;
  vertical-align: -0.1em; border-radius: 50%; }}
.count {{ color: #888; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="meta">Library: {library} · artifacts: {artifacts} · generated {generated}</p>
{body}
</body>
</html>
"""
