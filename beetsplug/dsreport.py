"""`beet dsreport`: one self-contained HTML page on what the enrichment did to the library."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.exceptions import UserError
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand

from beetsplug._dsp_beets import (
    BeetsLibrarySource,
    album_row,
    artifacts_dir,
    command,
    open_sidecar,
    writable_out_dir,
)
from beetsplug._dspipeline.npzio import check_output_dir, check_output_file

if TYPE_CHECKING:
    from beets.library import Library

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
        from beetsplug._dspipeline.report import ReportError, gather_report_data, write_report

        artifacts = artifacts_dir(lib, opts.artifacts)
        if opts.artifacts and not artifacts.is_dir():
            raise UserError(f"{artifacts}: no such artifacts folder")
        if opts.output:
            target = check_output_file(opts.output, "-o", default_name=REPORT_FILE)
        elif opts.artifacts:
            target = check_output_dir(artifacts, "--artifacts") / REPORT_FILE
        else:
            target = writable_out_dir(lib) / REPORT_FILE
        albums = [row for album in lib.albums(args) if (row := album_row(album))]
        tracks = BeetsLibrarySource(lib, args, limit=None).tracks()
        data = gather_report_data(
            open_sidecar(lib), tracks, albums, artifacts, os.fsdecode(lib.path)
        )
        try:
            path = write_report(data, artifacts, target)
        except ReportError as exc:
            raise UserError(str(exc)) from exc
        ui.print_(f"Report: {path}")
