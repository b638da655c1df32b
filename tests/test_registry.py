from __future__ import annotations

import pytest

from inspection.errors import ConfigError, MissingDependency
from inspection.registry import Registry
from inspection.vision.detector import ClassicalDetector, detectors


def test_builtin_detector_by_name() -> None:
    assert isinstance(detectors.create("classical"), ClassicalDetector)
    assert "classical" in detectors.names()


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        detectors.get("nope")
    assert "classical" in str(err.value)


def test_missing_optional_dependency_names_the_extra(tmp_path, monkeypatch) -> None:
    # a real plugin module whose vendor SDK is not installed
    (tmp_path / "fake_plugin_mod.py").write_text("import some_vendor_sdk_not_installed\nThing = object\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[object] = Registry("thing", "inspection.tests.things")
    reg.register("vendor", "fake_plugin_mod:Thing", extra="vendor")
    with pytest.raises(MissingDependency) as err:
        reg.get("vendor")
    assert "inspection-station[vendor]" in str(err.value)
    assert "some_vendor_sdk_not_installed" in str(err.value)


def test_missing_plugin_module_is_a_config_error() -> None:
    reg: Registry[object] = Registry("thing", "inspection.tests.things")
    reg.register("gone", "no_such_plugin_module_xyz:Thing")
    with pytest.raises(ConfigError) as err:
        reg.get("gone")
    assert "not installed" in str(err.value)


def test_bad_target() -> None:
    reg: Registry[object] = Registry("thing", "inspection.tests.things")
    with pytest.raises(ValueError):
        reg.register("x", "no_colon")
