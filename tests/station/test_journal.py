"""The result journal: fsync'd segments, deleted once the store committed them; what a killed run
left is handed back at the next start (a torn last line is skipped)."""

from __future__ import annotations

from pathlib import Path

from inspection.station.journal import ResultJournal


def _id(i: int) -> str:
    return f"{i:020x}"


def test_segments_roll_and_go_once_committed(tmp_path: Path) -> None:
    j = ResultJournal(tmp_path, segment_entries=3)
    for i in range(7):
        j.append({"result_id": _id(i), "code": 1})
    assert len(list(tmp_path.glob("*.jsonl"))) == 3 and j.uncommitted == 7
    j.committed([_id(i) for i in range(6)])
    assert len(list(tmp_path.glob("*.jsonl"))) == 1 and j.uncommitted == 1
    j.committed([_id(6)])
    j.close()
    assert list(tmp_path.glob("*.jsonl")) == []


def test_a_killed_run_is_recovered_at_the_next_start(tmp_path: Path) -> None:
    j = ResultJournal(tmp_path)
    for i in range(4):
        j.append({"result_id": _id(i), "code": 1})
    j.committed([_id(0)])
    # killed here: no close(); a torn, never-synced line at the end
    with open(sorted(tmp_path.glob("*.jsonl"))[-1], "ab") as f:
        f.write(b'{"result_id": "00000000000000000')
    again = ResultJournal(tmp_path)
    in_store = {_id(0), _id(2)}
    got = again.recover(lambda rid: rid in in_store)
    assert [e["result_id"] for e in got] == [_id(1), _id(3)]
    again.forget_old()
    assert list(tmp_path.glob("*.jsonl")) == []
