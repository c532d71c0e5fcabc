"""The versioned Parquet lake: atomic switch, last good version kept, DuckDB reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from resources import duck
from resources.lake import Lake

SCHEMA = pa.schema([("id", pa.string()), ("n", pa.int64())])


def _write(lake: Lake, rows: list[dict[str, object]], **meta: object) -> None:
    with lake.new_version("things", "src-1", schema=SCHEMA) as writer:
        writer.write_rows(rows)
        writer.meta = dict(meta)


def _read(lake: Lake) -> list[tuple[str, int]]:
    version = lake.current("things", "src-1")
    assert version is not None
    con = duck.connect()
    lake.register(con, "t", version)
    return con.sql("SELECT id, n FROM t ORDER BY id").fetchall()


def test_a_committed_version_is_readable_with_its_meta(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    assert lake.current("things", "src-1") is None
    _write(lake, [{"id": "a", "n": 1}, {"id": "b", "n": 2}], cursor="abc")
    version = lake.current("things", "src-1")
    assert version is not None and version.rows == 2 and version.meta == {"cursor": "abc"}
    assert _read(lake) == [("a", 1), ("b", 2)]


def test_a_failing_writer_leaves_the_last_good_version(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    _write(lake, [{"id": "a", "n": 1}])
    before = lake.current("things", "src-1")
    with pytest.raises(RuntimeError), lake.new_version("things", "src-1", schema=SCHEMA) as w:
        w.write_rows([{"id": "z", "n": 9}])
        raise RuntimeError("connector died")
    assert lake.current("things", "src-1") == before
    assert _read(lake) == [("a", 1)]
    versions = [p.name for p in (tmp_path / "lake/things/src-1").iterdir() if p.is_dir()]
    assert versions == [before.name] if before else []


def test_a_killed_writer_leaves_the_last_good_version(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    _write(lake, [{"id": "a", "n": 1}])
    script = f"""
import os, pyarrow as pa
from resources.lake import Lake
lake = Lake(url={str(tmp_path / "lake")!r})
schema = pa.schema([("id", pa.string()), ("n", pa.int64())])
with lake.new_version("things", "src-1", schema=schema) as w:
    w.write_rows([{{"id": "x", "n": i}} for i in range(1000)])
    os._exit(9)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=Path.cwd(), check=False)
    assert result.returncode == 9
    assert _read(lake) == [("a", 1)]
    _write(lake, [{"id": "b", "n": 2}])
    assert _read(lake) == [("b", 2)]
    # The killed run's folder is pruned by the next commit; the replaced version is kept.
    assert len([p for p in (tmp_path / "lake/things/src-1").iterdir() if p.is_dir()]) == 2


def test_old_versions_are_pruned_and_drop_removes_everything(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    for n in range(4):
        _write(lake, [{"id": "a", "n": n}])
    folder = tmp_path / "lake/things/src-1"
    assert len([p for p in folder.iterdir() if p.is_dir()]) == 2
    assert _read(lake) == [("a", 3)]
    lake.drop("things", "src-1")
    assert lake.current("things", "src-1") is None and not folder.exists()


def test_an_empty_version_has_a_schema(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    _write(lake, [])
    assert _read(lake) == []


def test_large_writes_roll_over_into_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("resources.lake.ROWS_PER_PART", 10)
    lake = Lake(url=str(tmp_path / "lake"))
    with lake.new_version("things", "src-1", schema=SCHEMA) as writer:
        for start in range(0, 35, 5):
            writer.write_rows([{"id": f"{i:03d}", "n": i} for i in range(start, start + 5)])
    assert writer.committed is not None and len(writer.committed.files) == 4
    assert len(_read(lake)) == 35
