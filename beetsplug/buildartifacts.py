"""`beet buildartifacts`: Discogs → sonic → genre-sim → artifacts → verify, incremental.

A thin adapter: options and settings in, the core pipeline (`_dspipeline/pipeline.py`) runs.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.exceptions import UserError
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand

from beetsplug._dsp_beets import (
    TOKEN_MESSAGE,
    BeetsLibrarySource,
    command,
    discogs_settings,
    open_sidecar,
    peek_sidecar,
    sidecar_path,
    sonic_settings,
    writable_out_dir,
)
from beetsplug._dspipeline.npzio import check_output_dir

if TYPE_CHECKING:
    from beets.library import Library

    from beetsplug._dspipeline.pipeline import BuildSettings, GenreSettings

# pipeline.STAGES, spelled out: importing the pipeline (requests, ...) on every `beet` start
# costs ~0.3 s; a test keeps the two equal.
STAGE_NAMES = ("discogs", "sonic", "genre-sim", "artifacts", "verify")


def confirm(question: str) -> bool:
    from beetsplug._dspipeline.pipeline import StageError

    try:
        return bool(ui.input_yn(question, require=True))
    except UserError as exc:  # no terminal to ask: the stage fails, the run report says why
        raise StageError(str(exc)) from exc


class BuildArtifactsPlugin(BeetsPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "weights": {"track": 1.0, "album": 0.8, "artist": 0.5, "sources": {}},
                "min_count": 2,
                "max_genres": 0,  # 0 = no cap
                "synonyms": {},  # extra raw genre → canonical genre
                "drop": [],  # extra genres to drop as meta tags
                "drop_broad": [],  # broad genres to leave out (e.g. rock, pop, electronic)
                "tower_weights": [0.2, 0.5, 0.3],
                "tower_components": [8, 16, 8],
                "hybrid_weights": [0.6, 0.4],
            }
        )

    def commands(self) -> list[Subcommand]:
        cmd = Subcommand("buildartifacts", help="build and verify the playlist artifacts")
        p = cmd.parser
        p.usage = "%prog [options] [QUERY]"
        p.add_option(
            "--stages",
            default=",".join(STAGE_NAMES),
            metavar="LIST",
            help=f"comma list of stages to run, from: {', '.join(STAGE_NAMES)} "
            "(genre-sim and artifacts always run together)",
        )
        p.add_option(
            "--force",
            action="store_true",
            default=False,
            help="redo the listed stages even when up to date",
        )
        p.add_option(
            "-y",
            "--yes",
            action="store_true",
            default=False,
            help="don't ask before re-analysing all audio",
        )
        p.add_option(
            "-p",
            "--dry-run",
            action="store_true",
            default=False,
            help="show what each stage would do; write and create nothing",
        )
        p.add_option(
            "--limit",
            type="int",
            default=None,
            metavar="N",
            help="cap every stage at N albums/tracks; output goes to its own limit-N/ folder "
            "and never replaces the full artifacts",
        )
        p.add_option(
            "--out-dir",
            default=None,
            metavar="DIR",
            help="where artifacts go (default: dspipeline.out_dir); a query or --limit build "
            "goes into its own folder under it",
        )
        cmd.func = command(self.command)
        return [cmd]

    # -- settings ---------------------------------------------------------------------------
    def genre_settings(self) -> GenreSettings:
        from beetsplug._dspipeline.genres import GenreNormaliser, GenreWeights
        from beetsplug._dspipeline.pipeline import GenreSettings

        cfg = self.config
        w = cfg["weights"]
        return GenreSettings(
            normaliser=GenreNormaliser(
                extra_synonyms={str(k): str(v) for k, v in cfg["synonyms"].get(dict).items()},
                extra_drop=[str(x) for x in cfg["drop"].get(list)],
                drop_broad=[str(x) for x in cfg["drop_broad"].get(list)],
            ),
            weights=GenreWeights(
                track=float(w["track"].as_number()),
                album=float(w["album"].as_number()),
                artist=float(w["artist"].as_number()),
                sources={str(k): float(v) for k, v in w["sources"].get(dict).items()},
            ),
            min_count=int(cfg["min_count"].get(int)),
            max_genres=int(cfg["max_genres"].get(int)) or None,
        )

    def artifact_config(self) -> Any:
        """The embedding settings; their shapes and ranges were checked with the whole config
        (config_schema) before the command started."""
        from beetsplug._dspipeline.artifacts import ArtifactConfig

        tw, tc, hw = (
            [float(x) for x in self.config[name].get(list)]
            for name in ("tower_weights", "tower_components", "hybrid_weights")
        )
        try:
            return ArtifactConfig(
                tower_weights=(tw[0], tw[1], tw[2]),
                tower_components=(int(tc[0]), int(tc[1]), int(tc[2])),
                hybrid_weights=(hw[0], hw[1]),
            )
        except ValueError as exc:  # what a range cannot say: e.g. all weights 0
            raise UserError(f"buildartifacts: {exc}") from exc

    def settings(self, lib: Library, opts: Any, query: list[str]) -> BuildSettings:
        from beetsplug._dspipeline.artifact_format import subset_dir
        from beetsplug._dspipeline.pipeline import BuildSettings, StageError, normalise_stages

        try:
            stages = normalise_stages(opts.stages.split(","))
        except StageError as exc:
            raise UserError(str(exc)) from exc
        if opts.limit is not None and opts.limit < 1:
            raise UserError("--limit must be at least 1")
        if opts.out_dir:
            base = check_output_dir(opts.out_dir, "--out-dir")
        else:
            base = writable_out_dir(lib)
        force_sonic = opts.force and not opts.yes and "sonic" in stages and not opts.dry_run
        explicit = opts.stages != ",".join(STAGE_NAMES)
        return BuildSettings(
            stages=stages,
            target=subset_dir(base, query, opts.limit),
            query=tuple(query),
            limit=opts.limit,
            force=opts.force,
            library_path=os.fsdecode(lib.path),
            genre=self.genre_settings(),
            artifacts=self.artifact_config(),
            sonic=sonic_settings(),
            discogs=discogs_settings(),
            require_discogs=explicit and "discogs" in stages,
            confirm=confirm if force_sonic else (lambda question: True),
            say=ui.print_,
        )

    # -- the command ------------------------------------------------------------------------
    def command(self, lib: Library, opts: Any, args: list[str]) -> None:
        from beetsplug._dspipeline import pipeline

        settings = self.settings(lib, opts, args)
        if settings.discogs is None and settings.require_discogs and not opts.dry_run:
            print(TOKEN_MESSAGE, file=sys.stderr)
            sys.exit(1)
        source = BeetsLibrarySource(lib, args, opts.limit)
        exists = sidecar_path(lib).exists()
        sidecar = peek_sidecar(lib) if opts.dry_run else open_sidecar(lib)
        run = pipeline.PipelineRun(source, sidecar, settings)
        if not run.tracks():
            what = f"query '{' '.join(args)}' matched no tracks" if args else "no tracks"
            raise UserError(f"buildartifacts: {what}; nothing to build")
        ui.print_(f"Artifacts: {settings.target}")
        if opts.dry_run:
            ui.print_(f"Dry run: stages {', '.join(settings.stages)}")
            created = "" if exists else " (would be created)"
            ui.print_(f"  sidecar: {sidecar_path(lib)}{created}")
            for line in pipeline.dry_run(run):
                ui.print_(line)
            return
        if not pipeline.execute(run):
            sys.exit(1)
