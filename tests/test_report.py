"""HTML report: parses, embeds decodable PNGs, shows the given numbers, escapes library strings.

Artifacts come from the real builder (devtools.synthetic_library); a headless Chromium renders
the page when it is installed.
"""

from __future__ import annotations

import base64
import io
import os
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
        "bpm",
        "run-report",
    ]
    # genre bars, style bars, heat map, library map, BPM histogram
    assert len(page.images) == 5
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
    top_genres = sorted(data.genre_counts.items(), key=lambda kv: -kv[1])
    assert cells["genre-name"] == [name for name, _ in top_genres]
    assert cells["genre-count"] == [str(n) for _, n in top_genres]
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
    assert text.count(HOSTILE) >= 3
    assert "/music/<library>.db" in text


def test_run_report_tables(full_report: Path) -> None:
    text = "\n".join(_parse(full_report).text)
    for expected in ("discogs", "sonic", "looked_up: 120", "failed: 9", "61.2", "totals"):
        assert expected in text


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


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_renders_a_non_blank_page(full_report: Path, tmp_path: Path) -> None:
    import matplotlib.image

    assert CHROMIUM is not None
    shot = tmp_path / "shot.png"
    subprocess.run(
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
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            full_report.resolve().as_uri(),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    not_white = np.any(pixels < 0.9, axis=2)
    assert not_white.mean() > 0.02  # text, tables and plots, not an empty page
    assert float(pixels.std()) > 0.05
