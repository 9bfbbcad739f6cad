"""HTML report: parses, embeds decodable PNGs, shows the given numbers, escapes library strings.

Artifacts come from the real builder (devtools.synthetic_library); a headless Chromium renders
the page when it is installed.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import stat
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from beetsplug._dspipeline.artifact_format import DATA_FILE
from beetsplug._dspipeline.genre_sim import GenreSimilarity
from beetsplug._dspipeline.npzio import str_array
from beetsplug._dspipeline.report import (
    HEATMAP_GENRES,
    MAP_MAX_POINTS,
    ReportData,
    ReportError,
    clustered_order,
    write_report,
)
from devtools.synthetic_library import build_synthetic_artifacts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE = '<script>alert("x")</script> & "quotes"'
N_TRACKS = 400


class _Page(HTMLParser):
    """Collects images, data-key cells, section ids, tag names and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.cells: dict[str, list[str]] = {}
        self.sections: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._key: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag == "section":
            self.sections.append(values.get("id") or "")
        self._key = values.get("data-key") if tag == "td" else None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._key is not None:
            self.cells.setdefault(self._key, []).append(data)
            self._key = None


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _report_data() -> ReportData:
    return ReportData(
        n_albums=120,
        albums_with_genres=97,
        album_misses=15,
        album_errors=8,
        album_errors_by_reason={"HTTP 500": 5, "timeout": 3},
        n_tracks=N_TRACKS,
        tracks_with_sonic=391,
        sonic_failures_by_reason={"decode error": 6, HOSTILE: 3},
        tracks_without_genre=17,
        genre_counts={"Rock": 210, "Electronic": 150, "Jazz": 40, HOSTILE: 2},
        style_counts={"Shoegaze": 30, "Post-Punk": 12, "Acid $Jazz$": 9},
        run_report={
            "started_at": "2025-05-01T10:00:00+00:00",
            "duration_s": 61.25,
            "ok": True,
            "stages": [
                {
                    "name": "discogs",
                    "result": "ok",
                    "counts": {"looked_up": 120},
                    "duration_s": 12.5,
                },
                {
                    "name": "sonic",
                    "result": "warning",
                    "counts": {"failed": 9},
                    "message": HOSTILE,
                    "duration_s": 40.0,
                },
            ],
            "totals": {"stages": 2, "errors": 0},
            "query": [],
            "limit": None,
            "share": 0.45535714285714285,
        },
        last_build={
            "started_at": "2025-04-30T09:00:00+00:00",
            "duration_s": 412.3,
            "ok": True,
            "stages": [{"name": "sonic", "result": "ok", "counts": {"analysed": 113}}],
        },
        library="/music/<library>.db",
    )


@pytest.fixture(scope="module")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("artifacts")
    build_synthetic_artifacts(out, N_TRACKS, 60, seed=3)
    return out


@pytest.fixture(scope="module")
def full_report(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(_report_data(), artifacts_dir, tmp_path_factory.mktemp("r") / "r.html")


def _png_bytes(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    return base64.b64decode(src[len(prefix) :], validate=True)


def test_report_parses_and_every_image_is_a_png(full_report: Path) -> None:
    import matplotlib.image

    page = _parse(full_report)
    assert page.sections == [
        "coverage",
        "top-genres",
        "genre-heatmap",
        "library-map",
        "preview",
        "bpm",
        "run-report",
    ]
    # genre bars, style bars, heat map, BPM histogram (the map is inline SVG)
    assert len(page.images) == 4
    for src in page.images:
        raw = _png_bytes(src)
        assert raw.startswith(PNG_SIGNATURE)
        pixels = matplotlib.image.imread(io.BytesIO(raw), format="png")
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert float(pixels[..., :3].std()) > 0.01  # a plot, not an empty canvas
    mode = stat.S_IMODE(full_report.stat().st_mode)
    assert mode & stat.S_IRGRP or os.name == "nt"  # not the 0600 of mkstemp


def test_numbers_shown_match_report_data(full_report: Path) -> None:
    data = _report_data()
    cells = _parse(full_report).cells
    for key in (
        "n_albums",
        "albums_with_genres",
        "album_misses",
        "album_errors",
        "n_tracks",
        "tracks_with_sonic",
        "tracks_without_genre",
    ):
        assert cells[key] == [str(getattr(data, key))], key
    assert cells["sonic_failures"] == [str(sum(data.sonic_failures_by_reason.values()))]
    assert cells["album_error_reason"] == ["5", "3"]
    # With artifacts, top genres are the artifacts' (every source), as verify counts them.
    assert cells["genre-name"][0] and len(cells["genre-name"]) == len(cells["genre-count"])
    assert cells["style-name"] == ["Shoegaze", "Post-Punk", "Acid $Jazz$"]
    text = " ".join(_parse(full_report).text)
    assert "80.8 %" in text  # 97 of 120 albums
    assert f"{N_TRACKS} tracks" in text or f"of {N_TRACKS} tracks" in text


def test_library_strings_are_escaped(full_report: Path) -> None:
    page = _parse(full_report)
    source = full_report.read_text(encoding="utf-8")
    assert "script" not in page.tags
    assert "<script>" not in source and "<library>" not in source
    text = "".join(page.text)
    assert HOSTILE in text  # shown verbatim to the reader (coverage, genres, run stages)
    assert text.count(HOSTILE) >= 2
    assert "/music/<library>.db" in text


def test_run_report_tables(full_report: Path) -> None:
    text = "\n".join(_parse(full_report).text)
    for expected in ("discogs", "sonic", "looked_up: 120", "failed: 9", "61.2", "totals"):
        assert expected in text
    assert "Last call" in text and "Last full build" in text and "412" in text


def test_no_raw_python_values(full_report: Path) -> None:
    page = _parse(full_report)
    words = " ".join(page.text).split()
    assert not {"True", "False", "None", "[]", "{}"} & set(words)
    assert not re.search(r"\d\.\d{5,}", " ".join(page.text))  # no 0.45535714285714285
    source = full_report.read_text("utf-8")
    assert not re.search(r"<h[34]>[^<]*</h[34]>\s*(<p></p>|<table></table>)", source)
    assert "<h4>query</h4>" not in source  # an empty list gets no heading


def test_genre_counts_agree_with_verify(full_report: Path, artifacts_dir: Path) -> None:
    from beetsplug._dspipeline.verify import verify_artifacts

    stats = verify_artifacts(artifacts_dir).stats
    cells = _parse(full_report).cells
    assert cells["artifact_tracks_without_genres"] == [str(stats["n_zero_genre_rows"])]
    assert cells["artifact_genres"] == [str(stats["n_genres"])]
    with np.load(artifacts_dir / DATA_FILE) as data:
        raw, vocab = data["X_genre_raw"], data["genre_vocab"]
    counts = dict(zip(vocab.tolist(), np.count_nonzero(raw > 0, axis=0).tolist(), strict=True))
    for name, count in zip(cells["genre-name"], cells["genre-count"], strict=True):
        assert counts[name] == int(count)
    top = sorted(counts.values(), reverse=True)[: len(cells["genre-count"])]
    assert [int(c) for c in cells["genre-count"]] == top


def test_genre_counts_without_artifacts_come_from_the_data(tmp_path: Path) -> None:
    data = _report_data()
    cells = _parse(write_report(data, tmp_path / "none", tmp_path / "r.html")).cells
    top_genres = sorted(data.genre_counts.items(), key=lambda kv: -kv[1])
    assert cells["genre-name"] == [name for name, _ in top_genres]


def test_sonic_map_is_svg_with_hover_titles_and_legend(full_report: Path) -> None:
    source = full_report.read_text("utf-8")
    svg = source[source.index("<svg") : source.index("</svg>")]
    circles = svg.count("<circle")
    assert circles == min(N_TRACKS, MAP_MAX_POINTS)
    assert svg.count("<title>") == circles
    assert re.search(r"<title>[^<]+ – [^<]+ \([^<]+\)</title>", svg)
    legend = source[source.index('<ul class="legend">') :].split("</ul>")[0]
    colours = set(re.findall(r'fill="(#[0-9a-f]{6})"', svg))
    assert 2 <= legend.count("<li>") <= 12 and len(colours) >= 2
    # 60 albums: coloured by top genre, each legend entry counts its tracks
    assert "coloured by top genre" in source
    counts = [int(n) for n in re.findall(r'class="count">\((\d+)\)', legend)]
    assert sum(counts) == N_TRACKS


def test_sonic_map_by_album_names_the_albums(tmp_path: Path) -> None:
    build_synthetic_artifacts(tmp_path, 40, 4, seed=2)
    with np.load(tmp_path / DATA_FILE) as data:
        albums = sorted(set(data["album_ids"].tolist()))
    if len(albums) > 10:
        pytest.skip("the synthetic library has more than ten albums")
    names = {key: f"Band {i} – Record {i}" for i, key in enumerate(albums)}
    data = ReportData(album_names=names)
    source = write_report(data, tmp_path, tmp_path / "r.html").read_text("utf-8")
    assert "coloured by album" in source
    assert all(_html_escape(name) in source for name in names.values())


def _html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_playlist_preview(full_report: Path) -> None:
    page = _parse(full_report)
    scores = [float(s) for s in page.cells["preview-score"]]
    assert len(scores) == 10 and scores[0] == pytest.approx(1.0)
    assert all(-1.0 <= s <= 1.0 for s in scores)
    assert "beet dsplaylist id:" in " ".join(page.text)


def test_missing_artifacts_leave_notes(tmp_path: Path) -> None:
    out = write_report(ReportData(), tmp_path / "none", tmp_path / "report.html")
    page = _parse(out)
    text = " ".join(page.text)
    assert page.images == []
    assert "genre_similarity_matrix.npz is not built yet" in text
    assert f"{DATA_FILE} is not built yet" in text
    assert "No run report recorded yet" in text and "No genres recorded yet" in text
    assert _parse(out).cells["n_tracks"] == ["0"]


def test_invalid_artifact_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / DATA_FILE).write_bytes(b"garbage")
    with pytest.raises(ReportError) as info:
        write_report(ReportData(), tmp_path, tmp_path / "r.html")
    assert str(tmp_path / DATA_FILE) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "r.html").exists()


def test_missing_matplotlib_is_a_clear_error(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from pathlib import Path\n"
        "from beetsplug._dspipeline.report import ReportData, ReportError, write_report\n"
        f"out = Path({str(tmp_path)!r})\n"
        "try:\n"
        "    write_report(ReportData(), out, out / 'r.html')\n"
        "except ReportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    assert result.stdout.strip().startswith("matplotlib is not installed")
    assert "beets-dspipeline[report]" in result.stdout


def test_clustered_order_groups_related_genres() -> None:
    rng = np.random.default_rng(0)
    blocks = np.repeat(np.arange(4), 5)  # 4 families of 5 genres
    similarity = np.where(blocks[:, None] == blocks[None, :], 0.7, 0.05)
    similarity += rng.uniform(0, 0.05, similarity.shape)
    np.fill_diagonal(similarity, 1.0)
    shuffle = rng.permutation(blocks.size)
    order = clustered_order(similarity[np.ix_(shuffle, shuffle)])
    assert sorted(order.tolist()) == list(range(blocks.size))
    families = blocks[shuffle][order]
    changes = int(np.count_nonzero(np.diff(families)))
    assert changes == 3  # each family is one contiguous run


def test_heatmap_caps_genre_count(tmp_path: Path) -> None:
    n_genres = HEATMAP_GENRES + 15
    cooc = np.diag(np.arange(n_genres, 0, -1)).astype(np.float32)
    GenreSimilarity(
        vocab=str_array(f"g{i}" for i in range(n_genres)),
        cooc=cooc,
        S=np.eye(n_genres, dtype=np.float32),
    ).save(tmp_path / "genre_similarity_matrix.npz")
    text = " ".join(_parse(write_report(ReportData(), tmp_path, tmp_path / "r.html")).text)
    assert f"Top {HEATMAP_GENRES} genres by track count" in text


CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_renders_the_report(full_report: Path, tmp_path: Path) -> None:
    import matplotlib.image

    shot = tmp_path / "shot.png"
    uri = full_report.resolve().as_uri()
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,4000", uri)
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (4000, 1200)
    not_white = np.any(pixels < 0.9, axis=2)
    assert not_white.mean() > 0.02  # text, tables and plots, not an empty page
    assert float(pixels.std()) > 0.05
    # The sonic map's coloured points and legend are drawn (saturated pixels, several hues).
    saturated = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.3
    assert saturated.mean() > 0.002
    hues = {tuple(np.round(p * 4)) for p in pixels[saturated][::50]}
    assert len(hues) >= 3
    # The browser's DOM keeps one circle per drawn track, each with its hover <title>.
    dom = _chromium(tmp_path, "--dump-dom", uri).stdout
    circles = dom.count("<circle")
    assert circles == min(N_TRACKS, MAP_MAX_POINTS)
    assert dom.count("</title></circle>") == circles
