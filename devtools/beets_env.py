"""A throw-away beets installation in a directory: config file, library, and the real `beet` CLI.

Used by the demo and by the beets-level tests, which run beets as users do: in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ALL_PLUGINS = ("discogsgenres", "sonicanalysis", "buildartifacts", "dsplaylist", "dsreport")


class BeetsEnv:
    """``root/config.yaml``, ``root/library.db``, music in ``root/music``."""

    def __init__(
        self,
        root: Path,
        *,
        plugins: Sequence[str] = ("discogsgenres",),
        settings: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path = root / "config.yaml"
        self.library_path = root / "library.db"
        self.music_dir = root / "music"
        self.config: dict[str, Any] = {
            "directory": str(self.music_dir),
            "library": str(self.library_path),
            "plugins": list(plugins),
            "threaded": True,
            "import": {
                "copy": True,
                "write": True,
                "quiet": True,
                "autotag": False,
                "log": str(root / "import.log"),
            },
            "ui": {"color": False},
        }
        for key, value in (settings or {}).items():
            self.config[key] = value
        self.env = dict(env or {})
        self.write_config()

    @property
    def sidecar_path(self) -> Path:
        return self.root / "dspipeline.db"

    @property
    def out_dir(self) -> Path:
        return self.root / "ds_artifacts"

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config, allow_unicode=True), "utf-8")

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DISCOGS_TOKEN"}
        env.update({"BEETSDIR": str(self.root), "HOME": str(self.root), "PYTHONUTF8": "1"})
        env.update(self.env)
        env.update(extra or {})
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "beets", "-c", str(self.config_path), *args]

    def run(
        self,
        *args: str,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``beet ARGS``; raise with both streams shown when ``check`` and it failed."""
        proc = subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=self.process_env(env),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"beet {' '.join(args)} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    def processes(self) -> list[int]:
        """Live processes started for this environment (the CLI and any worker it started:
        they inherit its BEETSDIR), this process excepted."""
        marker = f"BEETSDIR={self.root}".encode() + b"\0"
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes() and not _zombie(entry):
                    pids.append(int(entry.name))
            except OSError:  # ended meanwhile, or not ours to read
                continue
        return pids

    def popen(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.process_env(env),
            stdin=subprocess.DEVNULL,
        )


def _zombie(proc_dir: Path) -> bool:
    """An ended process not reaped yet (its parent still running): it holds nothing."""
    stat = (proc_dir / "stat").read_text()
    return stat[stat.rindex(")") + 2] == "Z"
