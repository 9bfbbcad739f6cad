"""The README's first command: the demo runs end to end and shows real output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "devtools.demo", "--seconds", "8", "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.DEVNULL,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "Traceback" not in out and "Logging error" not in out  # beet's stderr is shown too
    assert "Already processed 8 albums; use --force to recheck" in out
    assert "Kraftwerk – Computer World  [synth-pop; electro]" in out
    assert "The Nobodies – Garage Tapes  (not on Discogs)" in out
    assert "坂本龍一 – 音楽図鑑  [ambient; synth-pop]" in out
    assert "Sonic: 19 analysed, 0 failed" in out
    assert "(no beat: time grid)" in out
    assert "artifacts OK: 19 tracks" in out
    m3u = (results / "one-more-time.m3u").read_text("utf-8").splitlines()
    assert m3u[0] == "#EXTM3U" and "One More Time" in m3u[1]
    assert len([line for line in m3u if line.startswith("#EXTINF")]) >= 3
    html = (results / "dspipeline_report.html").read_text("utf-8")
    assert html.count("data:image/png;base64,") >= 4
