"""Self-contained static HTML report of the pipeline (one file, plots as base64 PNG).

Sections: coverage, top genres and styles, clustered genre-similarity heat map, 2-D map of the
library (PCA of the hybrid embedding, coloured by top genre), BPM histogram, last run report.
The caller gathers the library/sidecar numbers into :class:`ReportData`; the plots that need
the DS artifacts read the npz files themselves, and their sections say so when the files are
not built yet. matplotlib (the ``report`` extra) is imported lazily, through its object API
only, so no global pyplot state or display backend is involved.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from .artifact_format import DATA_FILE, GENRE_SIM_FILE
from .genre_sim import load_genre_similarity
from .npzio import ArtifactFileError, load_npz, write_text_atomic

__all__ = [
    "HEATMAP_GENRES",
    "MAP_MAX_POINTS",
    "ReportData",
    "ReportError",
    "clustered_order",
    "write_report",
]

HEATMAP_GENRES = 40
MAP_MAX_POINTS = 20_000  # scatter points drawn; more only slows the plot down
MAP_LEGEND_GENRES = 10
TOP_COUNTS = 25


class ReportError(RuntimeError):
    """The report cannot be written; the message is one line."""


@dataclass
class ReportData:
    """Numbers for the report, gathered by the caller from the library and the sidecar.

    Album counts refer to the Discogs genre lookup; track counts to the sonic analysis.
    ``*_by_reason`` map a failure reason to its count; ``genre_counts`` / ``style_counts`` map a
    name to the number of tracks carrying it. ``run_report`` is the parsed
    ``analyze_run_report.json`` (or None when no run was recorded).
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
    library: str = ""
    title: str = "beets-dspipeline report"
    generated_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    )


def write_report(data: ReportData, artifacts_dir: Path, out_path: Path) -> Path:
    """Write the HTML report for ``data`` and the artifacts in ``artifacts_dir`` to ``out_path``.

    Written atomically; returns ``out_path``. Raises ReportError when matplotlib is missing or an
    artifact file is unreadable (missing artifact files only leave a note in their section).
    """
    figure_class = _figure_class()
    artifacts_dir = Path(artifacts_dir)
    out_path = Path(out_path)
    sections = [
        _coverage_section(data),
        _counts_section(data, figure_class),
        _heatmap_section(artifacts_dir / GENRE_SIM_FILE, figure_class),
        *_matrices_sections(artifacts_dir / DATA_FILE, figure_class),
        _run_section(data.run_report),
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


def _counts_section(data: ReportData, figure_class: Any) -> str:
    parts = []
    for label, key, counts in (
        ("genres", "genre", data.genre_counts),
        ("styles", "style", data.style_counts),
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
            f"<tr><th>{label[:-1]}</th><th>tracks</th></tr>{rows}</table></div>"
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


def _matrices_sections(path: Path, figure_class: Any) -> list[str]:
    map_title, bpm_title = "Library map", "Tempo"
    if not path.is_file():
        note = _note(f"{path} is not built yet.")
        return [_section(map_title, note, "library-map"), _section(bpm_title, note, "bpm")]
    try:
        arrays = load_npz(
            path,
            required=("X_genre_raw", "genre_vocab", "dsp_hybrid_embedding"),
            keys=("X_genre_raw", "genre_vocab", "dsp_hybrid_embedding", "bpm_array"),
        )
    except ArtifactFileError as exc:
        raise ReportError(str(exc)) from None
    return [
        _section(map_title, _library_map(arrays, figure_class), "library-map"),
        _section(bpm_title, _bpm_histogram(arrays.get("bpm_array"), figure_class), "bpm"),
    ]


def _library_map(arrays: Mapping[str, np.ndarray], figure_class: Any) -> str:
    hybrid = np.asarray(arrays["dsp_hybrid_embedding"], dtype=np.float64)
    genre_raw = arrays["X_genre_raw"]
    vocab = arrays["genre_vocab"]
    n_tracks = hybrid.shape[0]
    if n_tracks < 3:
        return _note("Too few tracks for a map.")
    centred = hybrid - hybrid.mean(axis=0)
    # Rows are few-dozen wide: an SVD of the covariance is cheap even for 100k tracks.
    _, singular, components = np.linalg.svd(centred.T @ centred)
    coords = centred @ components[:2].T
    explained = singular[:2] / singular.sum() if singular.sum() > 0 else np.zeros(2)

    has_genre = genre_raw.max(axis=1) > 0 if genre_raw.shape[1] else np.zeros(n_tracks, bool)
    top_genre = np.where(has_genre, genre_raw.argmax(axis=1) if genre_raw.shape[1] else 0, -1)
    genres, counts = np.unique(top_genre[top_genre >= 0], return_counts=True)
    legend = genres[np.argsort(-counts, kind="stable")][:MAP_LEGEND_GENRES]
    shown = np.random.default_rng(0).permutation(n_tracks)[:MAP_MAX_POINTS]

    figure = figure_class(figsize=(9, 7))
    axes = figure.add_subplot()
    groups = [
        ("other genres", np.isin(top_genre, legend, invert=True) & (top_genre >= 0), "#bbbbbb"),
        ("no genre", top_genre < 0, "#e0e0e0"),
    ]
    palette = _palette(len(legend))
    groups += [(str(vocab[g]), top_genre == g, palette[i]) for i, g in enumerate(legend)]
    for label, mask, colour in groups:
        rows = shown[mask[shown]]
        if rows.size:
            axes.scatter(
                coords[rows, 0],
                coords[rows, 1],
                s=6,
                c=[colour],
                alpha=0.7,
                linewidths=0,
                label=_plot_label(label),
            )
    axes.set_xlabel(f"PC 1 ({100 * explained[0]:.0f} % of variance)")
    axes.set_ylabel(f"PC 2 ({100 * explained[1]:.0f} % of variance)")
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2)
    caption = (
        f"PCA of the hybrid embedding; {min(n_tracks, MAP_MAX_POINTS)} of {n_tracks} tracks "
        "drawn, coloured by their strongest genre."
    )
    return _png(figure) + _note(caption)


def _palette(count: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


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


def _run_section(run_report: Mapping[str, Any] | None) -> str:
    title = "Last pipeline run"
    if not run_report:
        return _section(title, _note("No run report recorded yet."), "run-report")
    parts = []
    scalars = {k: v for k, v in run_report.items() if not isinstance(v, (list, dict))}
    if scalars:
        parts.append(_key_value_table(scalars))
    for key, value in run_report.items():
        if isinstance(value, list) and all(isinstance(row, Mapping) for row in value):
            parts.append(f"<h3>{_esc(key)}</h3>{_records_table(value)}")
        elif isinstance(value, Mapping):
            parts.append(f"<h3>{_esc(key)}</h3>{_key_value_table(value)}")
        elif isinstance(value, list):
            parts.append(f"<h3>{_esc(key)}</h3><p>{_esc(', '.join(map(str, value)))}</p>")
    return _section(title, "\n".join(parts), "run-report")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return _esc(f"{value:.3g}")
    if isinstance(value, Mapping):
        return _esc(", ".join(f"{k}: {v}" for k, v in value.items()))
    if isinstance(value, list):
        return _esc(json.dumps(value, ensure_ascii=False))
    return _esc(value)


def _key_value_table(values: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_cell(v)}</td></tr>" for k, v in values.items())
    return f"<table>{rows}</table>"


def _records_table(records: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for record in records for key in record))
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(r.get(c, ''))}</td>" for c in columns) + "</tr>"
        for r in records
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
</style>
</head>
<body>
<h1>{title}</h1>
<p class="meta">Library: {library} · artifacts: {artifacts} · generated {generated}</p>
{body}
</body>
</html>
"""
