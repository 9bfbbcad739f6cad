"""The defaults in docs/configuration.md are the ones `beet config -d` reports for each plugin.

A changed default (or a documented one that was never true) fails here: the tables are the
user's only reference for what a plugin does without settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from devtools.beets_env import ALL_PLUGINS, BeetsEnv

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
SECTION = re.compile(r"^## `(\w+):`")
# | `key` / `.other` | `default` / `default` | meaning |  (defaults that are YAML literals only)
ROW = re.compile(r"^\| (`[^`|]+`(?: / `[^`|]+`)*) \| (`[^`|]*`(?: / `[^`|]*`)*) \|")


def documented_defaults() -> dict[str, Any]:
    found: dict[str, Any] = {}
    section = None
    for line in DOCS.read_text("utf-8").splitlines():
        if match := SECTION.match(line):
            section = match[1]
        elif (match := ROW.match(line)) and section is not None:
            keys = re.findall(r"`([^`]+)`", match[1])
            values = re.findall(r"`([^`]*)`", match[2])
            assert len(keys) == len(values), line
            parent = keys[0].rpartition(".")[0]
            for key, value in zip(keys, values, strict=True):
                full = f"{parent}{key}" if key.startswith(".") else key
                found[f"{section}.{full}"] = yaml.safe_load(value)
    return found


def lookup(config: dict[str, Any], dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = value[part]
    return value


def as_choice(value: Any) -> Any:
    # `no` in a table of choices (write_genres: no/append/replace) is the string "no" to beets.
    return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


def test_documented_defaults_are_the_plugins_defaults(tmp_path: Path) -> None:
    env = BeetsEnv(tmp_path / "beets", plugins=list(ALL_PLUGINS))
    env.config = {"directory": env.config["directory"], "library": env.config["library"]}
    env.config["plugins"] = list(ALL_PLUGINS)
    env.write_config()
    out = env.run("config", "-d", "--clear").stdout  # --clear: unredacted (the token is "")
    # A new library's schema migration announces its backups first.
    defaults = yaml.safe_load("\n".join(line for line in out.splitlines() if "backup" not in line))
    documented = documented_defaults()
    sections = {key.split(".")[0] for key in documented}
    assert sections == {"discogsgenres", "sonicanalysis", "buildartifacts", "dsplaylist"}
    assert len(documented) >= 35
    wrong = {
        key: (value, lookup(defaults, key))
        for key, value in documented.items()
        if lookup(defaults, key) not in (value, as_choice(value))
    }
    assert not wrong, f"documented vs actual default: {wrong}"
