"""The sonic run's progress: ETA from seconds of audio, not track counts."""

from __future__ import annotations

import time

from beetsplug._dspipeline.sonic_run import Progress


def test_eta_follows_seconds_of_audio_not_track_counts() -> None:
    # One short track done of three: by track count the ETA would be 2 x 10 s = 20 s; the two
    # left hold 19x the audio already analysed, so it is ~190 s.
    progress = Progress(total=3, total_seconds=200.0, started=time.monotonic() - 10.0)
    progress.done, progress.done_seconds = 1, 10.0
    line = progress.line()
    assert "1x realtime" in line
    eta = int(line.split("ETA ")[1].split("s")[0])
    assert 185 <= eta <= 195


def test_unknown_lengths_fall_back_to_tracks_per_second() -> None:
    progress = Progress(total=4, started=time.monotonic() - 10.0)
    progress.done = 2
    line = progress.line()
    assert "0.20 tracks/s" in line and "ETA 10s" in line
