"""`beet dsplaylist QUERY`: a playlist from seed tracks, using the DS artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.exceptions import UserError
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand

from beetsplug._dsp_beets import library_signature, model_id, open_sidecar, out_dir, sidecar_path
from beetsplug._dspipeline.artifact_format import DATA_FILE
from beetsplug._dspipeline.playlist import (
    DEFAULT_MODES,
    ArtifactsError,
    ModeSettings,
    PlaylistError,
    generate_playlist,
    load_artifacts,
    write_m3u,
)

if TYPE_CHECKING:
    from beets.library import Library


class DsPlaylistPlugin(BeetsPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "count": 30,
                "mode": "dynamic",
                "max_per_artist": 0,  # 0 = a tenth of the playlist
                "relative": False,
                "modes": {
                    name: {"genre_gate": m.genre_gate, "sonic_floor": m.sonic_floor}
                    for name, m in DEFAULT_MODES.items()
                },
            }
        )

    def commands(self) -> list[Subcommand]:
        cmd = Subcommand("dsplaylist", help="make a playlist from seed tracks (DS artifacts)")
        p = cmd.parser
        p.usage = f"{p.usage or '%prog [options]'} QUERY"
        p.add_option("-n", "--count", type="int", default=None, help="tracks in the playlist")
        p.add_option(
            "--mode",
            choices=tuple(DEFAULT_MODES),
            default=None,
            help="narrow | dynamic | discover | sonic-only",
        )
        p.add_option(
            "-o",
            "--output",
            default=None,
            metavar="FILE.m3u",
            help="write an extended M3U playlist",
        )
        p.add_option(
            "--relative",
            action="store_true",
            default=None,
            help="write paths relative to the playlist file",
        )
        p.add_option(
            "-p",
            "--pretend",
            action="store_true",
            default=False,
            help="print artist – title – score instead of writing",
        )
        p.add_option(
            "--max-per-artist",
            type="int",
            default=None,
            metavar="N",
            help="at most N tracks per artist",
        )
        cmd.func = self.command
        return [cmd]

    def modes(self) -> dict[str, ModeSettings]:
        modes = {}
        for name, default in DEFAULT_MODES.items():
            view = self.config["modes"][name]
            gate = view["genre_gate"].get() if view["genre_gate"].exists() else default.genre_gate
            floor = (
                view["sonic_floor"].get() if view["sonic_floor"].exists() else (default.sonic_floor)
            )
            modes[name] = ModeSettings(
                genre_gate=None if gate is None else float(gate),
                sonic_floor=float(floor),
                use_genre=default.use_genre,
            )
        return modes

    def command(self, lib: Library, opts: Any, args: list[str]) -> None:
        if not args:
            raise UserError("give a query for the seed track(s), e.g. beet dsplaylist title:foo")
        items = list(lib.items(args))
        if not items:
            raise UserError(f"query '{' '.join(args)}' matched no tracks")
        path = out_dir(lib) / DATA_FILE
        try:
            art = load_artifacts(path)
        except ArtifactsError as exc:
            raise UserError(f"{exc}; build them with `beet buildartifacts`") from exc
        self.warn_if_stale(lib, path.parent)
        seeds = art.indices_for_items(model_id(item) for item in items)
        missing = len(items) - len(seeds)
        if not seeds:
            raise UserError(
                f"none of the {len(items)} seed track(s) is in the artifacts at {path}; "
                "analyse them and rebuild: beet buildartifacts"
            )
        if missing:
            ui.print_(
                f"warning: {missing} seed track(s) are not in the artifacts and were left out"
            )
        count = opts.count or int(self.config["count"].get(int))
        mode = opts.mode or self.config["mode"].as_str()
        cap = opts.max_per_artist or int(self.config["max_per_artist"].get(int)) or None
        try:
            entries = generate_playlist(
                art, seeds, count=count, mode=mode, max_per_artist=cap, modes=self.modes()
            )
        except PlaylistError as exc:
            raise UserError(str(exc)) from exc
        if opts.pretend or not opts.output:
            for entry in entries:
                mark = "*" if entry.is_seed else " "
                ui.print_(f"{mark} {entry.artist} – {entry.title} – {entry.score:.3f}")
            ui.print_(f"{len(entries)} tracks ({mode})")
            self.hint_if_short(len(entries), count, mode)
            return
        items_by_id = {e.item_id: lib.get_item(e.item_id) for e in entries}
        durations = {i: float(item.length) for i, item in items_by_id.items() if item}
        relative = opts.relative if opts.relative is not None else self.config["relative"].get(bool)
        write_m3u(entries, Path(opts.output), relative=relative, durations=durations)
        ui.print_(f"Wrote {len(entries)} tracks ({mode}) to {opts.output}")
        self.hint_if_short(len(entries), count, mode)

    @staticmethod
    def hint_if_short(found: int, wanted: int, mode: str) -> None:
        """The gates of the genre modes can leave few candidates: point at the looser modes."""
        if found < wanted and mode in ("narrow", "dynamic"):
            ui.print_(
                f"only {found} of {wanted} tracks passed the {mode} filters; "
                "--mode discover (no genre gate) or --max-per-artist give more"
            )

    @staticmethod
    def warn_if_stale(lib: Library, artifacts: Path) -> None:
        """The library or sidecar inputs changed after the build: the playlist may miss tracks.

        Compares the exact signature of the inputs recorded by the build with the current one
        (not file times), so a fresh build never warns and rebuilding clears the warning."""
        from beetsplug._dspipeline.artifact_format import inputs_signature, read_build_state

        state = read_build_state(artifacts)
        if state is None or not sidecar_path(lib).exists():
            return
        current = inputs_signature(library_signature(lib), open_sidecar(lib).data_version())
        if current != state.inputs_signature:
            ui.print_(
                f"warning: the library or the sidecar changed after the artifacts in "
                f"{artifacts} were built; run `{state.rebuild_command()}` to refresh them"
            )
