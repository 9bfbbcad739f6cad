"""`beet dsreport`: one self-contained HTML page on what the enrichment did to the library."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.exceptions import UserError
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand

from beetsplug._dsp_beets import (
    album_row,
    artifacts_dir,
    command,
    item_album_keys,
    model_id,
    open_sidecar,
    writable_out_dir,
)
from beetsplug._dspipeline.artifact_format import LAST_BUILD_REPORT_FILE, RUN_REPORT_FILE
from beetsplug._dspipeline.genres import GenreNormaliser
from beetsplug._dspipeline.npzio import check_output_dir, check_output_file
from beetsplug._dspipeline.sidecar import DISCOGS_GENRE_SOURCE, DISCOGS_STYLE_SOURCE

if TYPE_CHECKING:
    from beets.library import Library

    from beetsplug._dspipeline.report import ReportData

REPORT_FILE = "dspipeline_report.html"


class DsReportPlugin(BeetsPlugin):
    def commands(self) -> list[Subcommand]:
        cmd = Subcommand("dsreport", help="write an HTML report of genres, sonic features, runs")
        cmd.parser.usage = f"{cmd.parser.usage or '%prog [options]'} [QUERY]"
        cmd.parser.add_option(
            "-o",
            "--output",
            default=None,
            metavar="FILE.html",
            help=f"where to write it; a directory gets {REPORT_FILE} inside "
            f"(default: <out_dir>/{REPORT_FILE})",
        )
        cmd.parser.add_option(
            "--artifacts",
            default=None,
            metavar="DIR",
            help="read the artifacts (and their run report) from DIR instead of dspipeline.out_dir",
        )
        cmd.func = command(self.command)
        return [cmd]

    def command(self, lib: Library, opts: Any, args: list[str]) -> None:
        from beetsplug._dspipeline.report import ReportError, write_report

        artifacts = artifacts_dir(lib, opts.artifacts)
        if opts.artifacts and not artifacts.is_dir():
            raise UserError(f"{artifacts}: no such artifacts folder")
        if opts.output:
            target = check_output_file(opts.output, "-o", default_name=REPORT_FILE)
        elif opts.artifacts:
            target = check_output_dir(artifacts, "--artifacts") / REPORT_FILE
        else:
            target = writable_out_dir(lib) / REPORT_FILE
        data = gather_report_data(lib, args, artifacts)
        try:
            path = write_report(data, artifacts, target)
        except ReportError as exc:
            raise UserError(str(exc)) from exc
        ui.print_(f"Report: {path}")


def gather_report_data(lib: Library, query: list[str], artifacts: Path) -> ReportData:
    """Coverage and counts from the library and the sidecar, for the queried items; the run
    reports from the ``artifacts`` folder."""
    from beetsplug._dspipeline.report import ReportData

    sidecar = open_sidecar(lib)
    items = list(lib.items(query))
    album_rows = [row for a in lib.albums(query) if (row := album_row(a))]
    album_keys = {row.album_id for row in album_rows}
    genres = sidecar.album_genres()
    empty = sidecar.albums_marked_empty()
    errors = sidecar.discogs_errors()
    features = sidecar.features_for_items([model_id(i) for i in items])
    failures = Counter(
        f.reason for f in sidecar.failures() if f.item_id in {model_id(i) for i in items}
    )

    normaliser = GenreNormaliser()
    genre_counts: Counter[str] = Counter()
    style_counts: Counter[str] = Counter()
    without_genre = 0
    keys = item_album_keys(lib, items)
    for item in items:
        key = keys[model_id(item)]
        rows = genres.get(key, []) if key else []
        style_counts.update(g for g, s in rows if s == DISCOGS_STYLE_SOURCE)
        # Every source counts once per track: the sidecar's album genres and beets' genres.
        raw = [g for g, _ in rows] + list(item.genres or [])
        names = {name for g in raw for name in normaliser.normalise(g)}
        genre_counts.update(names)
        if not names:
            without_genre += 1
    error_reasons = Counter(
        msg.split(":", 1)[0] for key, msg in errors.items() if key in album_keys
    )
    return ReportData(
        n_albums=len(album_keys),
        albums_with_genres=sum(
            1
            for k in album_keys
            if any(s in (DISCOGS_GENRE_SOURCE, DISCOGS_STYLE_SOURCE) for _, s in genres.get(k, []))
        ),
        album_misses=len(album_keys & empty),
        album_errors=sum(1 for k in album_keys if k in errors),
        album_errors_by_reason=dict(error_reasons),
        n_tracks=len(items),
        tracks_with_sonic=len(features),
        sonic_failures_by_reason=dict(failures),
        tracks_without_genre=without_genre,
        genre_counts=dict(genre_counts),
        style_counts=dict(style_counts),
        run_report=_read_run_report(artifacts / RUN_REPORT_FILE),
        last_build=_read_run_report(artifacts / LAST_BUILD_REPORT_FILE),
        album_names={row.album_id: f"{row.albumartist} – {row.album}" for row in album_rows},
        library=os.fsdecode(lib.path),
    )


def _read_run_report(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        report = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {"note": f"{path} is unreadable"}
    return report if isinstance(report, dict) else {"note": f"{path} is not a run report"}
