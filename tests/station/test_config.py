"""The station configuration file: validated when read, relative paths, hot reload of valid edits."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from inspection.errors import ConfigError
from inspection.station.config import ConfigWatcher, StationConfig, load_config, parse_config

GOOD = """
[station]
id = "line3-st1"
data_dir = "data"

[camera]
driver = "replay"
image_file = "parts"
grab_timeout_s = 1.5

[plc]
port = 1502
deadline_ms = 400

[recipes]
folder = "recipes"
initial = 2
"""


def test_a_good_file_with_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert cfg.station.id == "line3-st1" and cfg.plc.deadline_ms == 400 and cfg.recipes.initial == 2
    assert cfg.station.data_dir == tmp_path / "data"
    assert cfg.camera.image_file == tmp_path / "parts"
    assert cfg.hmi.port == 8080  # defaults fill the rest


@pytest.mark.parametrize(("text", "field"), [
    ("[plc]\ndeadline_ms = 0\n", "plc.deadline_ms"),
    ("[plc]\nport = 70000\n", "plc.port"),
    ("[camera]\nexposure_us = nan\n", "camera.exposure_us"),
    ("[station]\nthreads = 'two'\n", "station.threads"),
    ("[recipes]\nfolderr = 'x'\n", "recipes.folderr"),
    ("[hmi]\nenabled = 'maybe'\n", "hmi.enabled"),
])
def test_bad_values_name_their_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert field in str(err.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "missing.toml")
    assert err.value.key == "config_not_found"
    bad = tmp_path / "syntax.toml"
    bad.write_text("[plc\nport = 1")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert err.value.key == "config_syntax"


def test_watcher_passes_valid_edits_and_keeps_the_last_good(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(GOOD)
    seen: list[StationConfig] = []
    watcher = ConfigWatcher(path, seen.append)
    assert not watcher.poll()  # unchanged
    _rewrite(path, GOOD.replace("deadline_ms = 400", "deadline_ms = 450"))
    assert watcher.poll() and seen[-1].plc.deadline_ms == 450
    _rewrite(path, GOOD.replace("deadline_ms = 400", "deadline_ms = -1"))
    assert not watcher.poll() and "deadline_ms" in watcher.last_error
    assert len(seen) == 1  # the invalid edit was not passed on


def test_changed_sections() -> None:
    a = parse_config({})
    b = parse_config({"plc": {"deadline_ms": 123}, "camera": {"exposure_us": 500}})
    assert b.changed_sections(a) == {"plc", "camera"}


def _rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a distinct mtime even on coarse clocks
    time.sleep(0.01)


def test_absolute_paths_stay_absolute(tmp_path: Path) -> None:
    """The production config of docs/station.md uses absolute paths (issue #13, item 2: they were
    resolved to None and 'inspection run' crashed)."""
    data, recipes = tmp_path / "var" / "inspection", tmp_path / "etc" / "recipes"
    path = tmp_path / "conf" / "station.toml"
    path.parent.mkdir()
    path.write_text(f'[station]\ndata_dir = "{data}"\n[recipes]\nfolder = "{recipes}"\n'
                    f'[camera]\ndriver = "replay"\nimage_file = "{tmp_path / "parts"}"\n')
    cfg = load_config(path)
    assert cfg.station.data_dir == data and cfg.recipes.folder == recipes
    assert cfg.camera.image_file == tmp_path / "parts"


def test_network_defaults_are_loopback() -> None:
    """Issue #13, item 9: 'inspection run' bound the HMI (plain HTTP) and Modbus to 0.0.0.0 by default."""
    cfg = StationConfig()
    assert cfg.hmi.host == "127.0.0.1" and cfg.plc.host == "127.0.0.1" and not cfg.hmi.cookie_secure
    assert parse_config({"hmi": {"cookie_secure": True}}).hmi.cookie_secure
