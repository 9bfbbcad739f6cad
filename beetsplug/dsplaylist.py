"""`beet dsplaylist QUERY`: playlists and journeys from seed tracks; the `similar:` query."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from beets import ui
from beets.dbcore.query import FieldQuery
from beets.exceptions import UserError
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand

from beetsplug._dsp_beets import (
    artifacts_dir,
    command,
    library_signature,
    model_id,
    open_sidecar,
    out_dir,
    sidecar_path,
)
from beetsplug._dspipeline.artifact_format import DATA_FILE
from beetsplug._dspipeline.npzio import check_output_file
from beetsplug._dspipeline.playlist import (
    DEFAULT_MODES,
    Artifacts,
    ArtifactsError,
    ModeSettings,
    Playlist,
    PlaylistError,
    generate_playlist,
    load_artifacts,
    write_m3u,
)
from beetsplug._dspipeline.playlist_format import explain_lines, playlist_json, summary_line

if TYPE_CHECKING:
    from beets.dbcore.db import Model
    from beets.library import Item, Library

    from beetsplug._dspipeline.journey import Journey
    from beetsplug._dspipeline.similar import SimilarityIndex


class SimilarQuery(FieldQuery[str]):
    """``similar:QUERY``: the ``dsplaylist.similar_k`` tracks nearest to the tracks QUERY
    matches (the QUERY's own tracks left out). An SQL ``id IN (...)`` clause, so it composes
    with any other beets query at SQL speed."""

    plugin: ClassVar[DsPlaylistPlugin | None] = None

    def __init__(self, field_name: str, pattern: str, fast: bool = True) -> None:
        super().__init__(field_name, pattern, fast)
        self._ids: frozenset[int] | None = None

    def item_ids(self) -> frozenset[int]:
        if self._ids is None:
            if self.plugin is None:
                raise UserError("similar: needs the dsplaylist plugin to be loaded")
            self._ids = frozenset(self.plugin.similar_item_ids(self.pattern))
        return self._ids

    def clause(self) -> tuple[str, list[int]]:
        ids = ",".join(str(i) for i in sorted(self.item_ids()))  # ints: safe to inline
        return (f"items.id IN ({ids})" if ids else "0"), []

    def match(self, obj: Model) -> bool:
        return obj.id in self.item_ids()


class SimilarAlbumQuery(SimilarQuery):
    """``beet ls -a similar:QUERY``: the albums holding the tracks ``similar:`` finds."""

    def clause(self) -> tuple[str, list[int]]:
        ids = ",".join(str(i) for i in sorted(self.item_ids()))
        if not ids:
            return "0", []
        return f"albums.id IN (SELECT album_id FROM items WHERE id IN ({ids}))", []

    def match(self, obj: Model) -> bool:
        return any(item.id in self.item_ids() for item in obj.items())  # type: ignore[attr-defined]


class DsPlaylistPlugin(BeetsPlugin):
    item_queries: ClassVar[dict[str, type[FieldQuery[Any]]]] = {"similar": SimilarQuery}
    album_queries: ClassVar[dict[str, type[FieldQuery[Any]]]] = {"similar": SimilarAlbumQuery}

    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "count": 30,
                "mode": "dynamic",
                "max_per_artist": 0,  # 0 = ceil(count / min(10, artists in the library))
                "max_per_album": 0,  # 0 = ceil(count / min(5, albums in the library))
                "max_seeds": 3,
                "similar_k": 20,
                "relative": False,
                "modes": {
                    name: {"genre_gate": m.genre_gate, "sonic_floor": m.sonic_floor}
                    for name, m in DEFAULT_MODES.items()
                },
            }
        )
        self._lib: Library | None = None
        self._index: tuple[Path, float, SimilarityIndex] | None = None
        SimilarQuery.plugin = self
        self.register_listener("library_opened", self.library_opened)

    def library_opened(self, lib: Library) -> None:
        self._lib = lib

    # -- similar: ----------------------------------------------------------------------------

    def similar_item_ids(self, pattern: str) -> list[int]:
        """Item ids for ``similar:PATTERN``; the artifacts are read once per command."""
        from beetsplug._dspipeline.similar import load_similarity_index

        if self._lib is None:
            raise UserError("similar: the library is not open")
        lib = self._lib
        path = out_dir(lib) / DATA_FILE
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = -1.0
        if self._index is None or self._index[:2] != (path, mtime):
            try:
                self._index = (path, mtime, load_similarity_index(path))
            except ArtifactsError as exc:
                raise UserError(f"similar: {exc}; build them with `beet buildartifacts`") from exc
        seeds = [model_id(item) for item in lib.items(pattern)]
        k = int(self.config["similar_k"].get(int))
        return self._index[2].nearest_items(seeds, k)

    # -- the command -------------------------------------------------------------------------

    def commands(self) -> list[Subcommand]:
        cmd = Subcommand(
            "dsplaylist", help="make a playlist or a journey from seed tracks (DS artifacts)"
        )
        p = cmd.parser
        p.usage = f"{p.usage or '%prog [options]'} [QUERY] [--to QUERY [--via QUERY]...]"
        p.add_option(
            "-n",
            "--count",
            type="int",
            default=None,
            help=f"tracks in the playlist (default: dsplaylist.count, {self.config['count']})",
        )
        p.add_option(
            "--mode",
            choices=tuple(DEFAULT_MODES),
            default=None,
            help=f"narrow | dynamic | discover | sonic-only "
            f"(default: dsplaylist.mode, {self.config['mode']})",
        )
        p.add_option("-o", "--output", default=None, metavar="FILE", help="write the playlist")
        p.add_option(
            "--format",
            choices=("m3u", "json"),
            default="m3u",
            help="m3u (extended M3U, default) or json (for other tools)",
        )
        p.add_option(
            "--relative",
            action="store_true",
            default=None,
            help="write paths relative to the playlist file "
            f"(default: dsplaylist.relative, {'yes' if self.config['relative'] else 'no'})",
        )
        p.add_option(
            "-p",
            "--pretend",
            action="store_true",
            default=False,
            help="print artist – title – score instead of writing",
        )
        for flag, what in (("--max-per-artist", "artist"), ("--max-per-album", "album")):
            p.add_option(
                flag, type="int", default=None, metavar="N", help=f"at most N tracks per {what}"
            )
        p.add_option(
            "--max-seeds",
            type="int",
            default=None,
            metavar="N",
            help="at most N seeds lead the list; the others only steer (default 3)",
        )
        p.add_option(
            "--strict",
            action="store_true",
            default=False,
            help="never relax the floor, gate or caps (the list may be shorter)",
        )
        p.add_option(
            "--artist",
            default=None,
            metavar="NAME",
            help="seeds: the tracks of artists matching NAME; the list is filled with others",
        )
        p.add_option(
            "--album",
            default=None,
            metavar="NAME",
            help="seeds: the tracks of albums matching NAME; the list is filled with others",
        )
        p.add_option(
            "--exclude", default=None, metavar="QUERY", help="never pick tracks matching QUERY"
        )
        p.add_option(
            "--to", default=None, metavar="QUERY", help="journey: end at the track QUERY matches"
        )
        p.add_option(
            "--via",
            action="append",
            default=[],
            metavar="QUERY",
            help="journey: pass this track on the way (repeatable, in order)",
        )
        p.add_option(
            "--explain",
            action="store_true",
            default=False,
            help="show the nearest candidates passed over before each pick, and why",
        )
        p.add_option(
            "--artifacts",
            default=None,
            metavar="DIR",
            help="read the artifacts from DIR (e.g. a subset build) instead of dspipeline.out_dir",
        )
        cmd.func = command(self.command)
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
        # With JSON on stdout, every other line goes to stderr so the output stays parseable.
        to_stdout = opts.format == "json" and not opts.output and not opts.pretend
        say = (lambda text: print(text, file=sys.stderr)) if to_stdout else ui.print_
        if opts.via and not opts.to:
            raise UserError("--via needs --to (a journey from QUERY to the --to track)")
        if not args and not (opts.artist or opts.album):
            raise UserError(
                "give a query for the seed track(s), e.g. beet dsplaylist title:foo "
                "(or --artist NAME / --album NAME)"
            )
        if opts.count is not None and opts.count < 1:
            raise UserError(f"--count must be at least 1, got {opts.count}")
        if opts.output:
            check_output_file(opts.output, "-o")  # before any work: a directory, a bad parent
        art_dir = artifacts_dir(lib, opts.artifacts)
        path = art_dir / DATA_FILE
        try:
            art = load_artifacts(path)
        except ArtifactsError as exc:
            raise UserError(f"{exc}; build them with `beet buildartifacts`") from exc
        self.warn_if_stale(lib, path.parent, say)
        count = opts.count or int(self.config["count"].get(int))
        mode = opts.mode or self.config["mode"].as_str()
        exclude = (
            self.rows(lib, art, shlex.split(opts.exclude), "--exclude") if opts.exclude else []
        )
        try:
            if opts.to:
                result: Playlist | Journey = self.journey(
                    lib, art, args, opts, count, mode, exclude
                )
            else:
                result = self.playlist(lib, art, args, opts, count, mode, exclude, say)
        except PlaylistError as exc:
            raise UserError(str(exc)) from exc
        self.output(lib, result, opts, say, to_stdout)

    def rows(self, lib: Library, art: Artifacts, query: list[str], what: str) -> list[int]:
        """Artifact rows of the items ``query`` matches, in beets' order."""
        items = list(lib.items(query))
        if not items:
            raise UserError(f"{what} query '{' '.join(query)}' matched no tracks")
        return art.indices_for_items(model_id(item) for item in items)

    def playlist(
        self,
        lib: Library,
        art: Artifacts,
        args: list[str],
        opts: Any,
        count: int,
        mode: str,
        exclude: list[int],
        say: Any,
    ) -> Playlist:
        avoid = None
        items: list[Item] = list(lib.items(args)) if args else []
        if args and not items:
            raise UserError(f"query '{' '.join(args)}' matched no tracks")
        for field in ("artist", "album"):
            name = getattr(opts, field)
            if name:
                group = list(lib.items([f"{field}:{name}"]))
                if not group:
                    raise UserError(f"--{field} '{name}' matched no tracks")
                items += group
                avoid = field
        seeds = art.indices_for_items(model_id(item) for item in items)
        if not seeds:
            raise UserError(
                f"none of the {len(items)} seed track(s) is in the artifacts at {art.path}; "
                "analyse them and rebuild: beet buildartifacts"
            )
        missing = len({model_id(item) for item in items}) - len(set(seeds))
        if missing > 0:
            say(f"warning: {missing} seed track(s) are not in the artifacts and were left out")

        def setting(option: str) -> int | None:
            value = getattr(opts, option)
            return value if value is not None else (int(self.config[option].get(int)) or None)

        max_seeds = opts.max_seeds
        if max_seeds is None:
            max_seeds = int(self.config["max_seeds"].get(int))
        return generate_playlist(
            art,
            seeds,
            count=count,
            mode=mode,
            max_per_artist=setting("max_per_artist"),
            max_per_album=setting("max_per_album"),
            max_seeds=max_seeds,
            strict=opts.strict,
            exclude=exclude,
            avoid=avoid,
            explain=opts.explain,
            modes=self.modes(),
        )

    def journey(
        self,
        lib: Library,
        art: Artifacts,
        args: list[str],
        opts: Any,
        count: int,
        mode: str,
        exclude: list[int],
    ) -> Journey:
        from beetsplug._dspipeline.journey import generate_journey

        if not args:
            raise UserError("a journey needs a start: beet dsplaylist FROM_QUERY --to TO_QUERY")
        anchors = []
        for what, query in (("start", args), *(("--via", shlex.split(v)) for v in opts.via)):
            anchors.append(self.anchor(lib, art, query, what))
        anchors.append(self.anchor(lib, art, shlex.split(opts.to), "--to"))
        return generate_journey(art, anchors, count=count, mode=mode, exclude=exclude)

    def anchor(self, lib: Library, art: Artifacts, query: list[str], what: str) -> int:
        """The first track ``query`` matches that is in the artifacts."""
        rows = self.rows(lib, art, query, what)
        if not rows:
            raise UserError(
                f"{what} query '{' '.join(query)}': no matching track is in the artifacts"
            )
        return rows[0]

    def output(
        self, lib: Library, result: Playlist | Journey, opts: Any, say: Any, to_stdout: bool
    ) -> None:
        entries = result.entries
        if opts.format == "json" and not opts.pretend:
            text = json.dumps(playlist_json(result), ensure_ascii=False, indent=2)
            if to_stdout:
                ui.print_(text)
            else:
                from beetsplug._dspipeline.npzio import write_text_atomic

                write_text_atomic(Path(opts.output), text + "\n")
                say(f"Wrote {len(entries)} tracks to {opts.output}")
            say(summary_line(result))
            return
        if opts.pretend or not opts.output:
            for entry in entries:
                mark = "*" if entry.is_seed else " "
                step = "" if entry.step in ("seed", "match", "journey") else f"  [{entry.step}]"
                say(f"{mark} {entry.artist} – {entry.title} – {entry.score:.3f}{step}")
                for line in explain_lines(entry.rejected):
                    say(line)
            if isinstance(result, Playlist):
                for line in explain_lines(result.passed_over, "not listed"):
                    say(line)
            say(summary_line(result))
            return
        items = {e.item_id: lib.get_item(e.item_id) for e in entries}
        durations = {i: float(item.length) for i, item in items.items() if item}
        relative = opts.relative if opts.relative is not None else self.config["relative"].get(bool)
        write_m3u(entries, Path(opts.output), relative=relative, durations=durations)
        say(f"Wrote {len(entries)} tracks to {opts.output}")
        say(summary_line(result))

    @staticmethod
    def warn_if_stale(lib: Library, artifacts: Path, say: Any) -> None:
        """The library or sidecar inputs changed after the build: the playlist may miss tracks.

        Compares the exact signature of the inputs recorded by the build with the current one
        (not file times), so a fresh build never warns and rebuilding clears the warning."""
        from beetsplug._dspipeline.artifact_format import inputs_signature, read_build_state

        state = read_build_state(artifacts)
        if state is None or not sidecar_path(lib).exists():
            return
        current = inputs_signature(library_signature(lib), open_sidecar(lib).data_version())
        if current != state.inputs_signature:
            say(
                f"warning: the library or the sidecar changed after the artifacts in "
                f"{artifacts} were built; run `{state.rebuild_command()}` to refresh them"
            )
