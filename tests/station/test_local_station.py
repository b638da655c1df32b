"""The in-process station: commands validated, persisted and audited; parts published and stored."""

from __future__ import annotations

import numpy as np
import pytest

from inspection.errors import ConfigError, StationError
from inspection.station.local import LocalStation, RecipeDef
from inspection.station.port import StationPort, StationState
from inspection.store import ResultStore, StoreConfig

RECIPES = [RecipeDef("a", 1, "A"), RecipeDef("b", 2, "B")]


@pytest.fixture
def station(tmp_path):
    with ResultStore(StoreConfig(tmp_path / "store")) as store:
        yield LocalStation(store, data_dir=tmp_path / "st", recipes=RECIPES)


def test_is_a_station_port(station):
    assert isinstance(station, StationPort)
    st = station.status()
    assert st.state is StationState.OPERATOR_ACCESS and not st.armed  # starts disarmed
    station.arm(user="u")
    assert station.status().state is StationState.READY


def test_settings_persist_across_restarts(tmp_path, part_factory):
    with ResultStore(StoreConfig(tmp_path / "store")) as store:
        s = LocalStation(store, data_dir=tmp_path / "st", recipes=RECIPES)
        s.select_recipe("b", user="eng")
        s.set_thresholds({"min_area_px": 33}, user="eng")
        result, image = part_factory(0)
        s.inject(result, image)
        s.teach_golden("b", user="eng")
    with ResultStore(StoreConfig(tmp_path / "store")) as store:
        s = LocalStation(store, data_dir=tmp_path / "st", recipes=RECIPES)
        (b,) = [r for r in s.recipes() if r.recipe_id == "b"]
        assert b.active and b.thresholds["min_area_px"] == 33 and b.golden is not None
        golden = s.golden_image("b")
        assert golden is not None and np.array_equal(golden, image)
        assert s.golden_image("a") is None
        assert [a.action for a in store.audit_log()] == ["teach_golden", "set_thresholds", "select_recipe"]


def test_commands_refuse_bad_input(station):
    with pytest.raises(StationError) as e:
        station.select_recipe("zz", user="u")
    assert e.value.key == "unknown_recipe"
    for bad in ({"threshold": float("nan")}, {"threshold": 0}, {"min_area_px": 1.5}, {"nope": 1},
                {"threshold": True}, {}):
        with pytest.raises(ConfigError):
            station.set_thresholds(bad, user="u")
    with pytest.raises(StationError) as e:
        station.teach_golden("a", user="u")
    assert e.value.key == "nothing_to_teach"
    with pytest.raises(StationError) as e:
        station.teach_golden("a", user="u", image=np.zeros((4, 4), np.float32))
    assert e.value.key == "bad_image"
    with pytest.raises(ConfigError):
        LocalStation(station.store, data_dir=station.data_dir, recipes=[])
    with pytest.raises(ConfigError):
        RecipeDef("bad id!", 1, "x")


def test_inject_publishes_counts_and_stores(station, part_factory):
    sub = station.subscribe(maxsize=10)
    for i in range(4):
        result, image = part_factory(i, defective=i % 2 == 1)
        station.inject(result, image)
    events = sub.drain()
    assert [e.kind for e in events] == ["part"] * 4
    last = events[-1].payload()
    assert last["recipe_id"] == "pcb-a"  # the pipeline's recipe id is kept when it has one
    assert last["counters"]["total"] == 4 and last["counters"]["ng"] == 2
    assert station.store.flush(10) and station.store.counts().total == 4
    assert station.part_image(last["result_id"]) is not None
    station.clear_counters(user="u")
    assert station.counters().total == 0 and sub.drain()[-1].kind == "counters"
