"""The versioned Parquet lake: atomic switch, last good version kept, DuckDB reads."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from resources import duck
from resources.lake import Lake

SCHEMA = pa.schema([("file_id", pa.string()), ("n", pa.int64())])


def _table(rows: list[dict[str, object]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _write(lake: Lake, rows: list[dict[str, object]], **meta: object) -> None:
    with lake.new_version("things", "src-1", schema=SCHEMA) as writer:
        writer.write(_table(rows))
        writer.meta = dict(meta)


def _read(lake: Lake) -> list[tuple[str, int]]:
    version = lake.current("things", "src-1")
    assert version is not None
    con = duck.connect()
    lake.register(con, "t", version)
    return con.execute("SELECT file_id, n FROM t ORDER BY file_id").fetchall()


def test_a_committed_version_is_readable_with_its_meta(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    assert lake.current("things", "src-1") is None
    _write(lake, [{"file_id": "a", "n": 1}, {"file_id": "b", "n": 2}], cursor="abc")
    version = lake.current("things", "src-1")
    assert version is not None and version.rows == 2 and version.meta == {"cursor": "abc"}
    assert _read(lake) == [("a", 1), ("b", 2)]


def version_folders(lake: Lake) -> set[str]:
    """The partition's version folders that hold anything, on any filesystem (pyarrow's GCS
    lists no folder it did not make, so they are read off a recursive listing)."""
    opened = lake.opened
    base = f"{opened.root}/things/src-1"
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    paths = [info.path.removeprefix(f"{base}/") for info in opened.fs.get_file_info(selector)]
    return {path.split("/")[0] for path in paths if path.startswith("v-")}


def check_a_failing_writer_leaves_the_last_good_version(lake: Lake) -> None:
    """A writer that raises leaves the committed version current, readable, and alone."""
    _write(lake, [{"file_id": "a", "n": 1}])
    before = lake.current("things", "src-1")
    with pytest.raises(RuntimeError), lake.new_version("things", "src-1", schema=SCHEMA) as w:
        w.write(_table([{"file_id": "z", "n": 9}]))
        raise RuntimeError("connector died")
    assert lake.current("things", "src-1") == before
    assert _read(lake) == [("a", 1)]
    assert before is not None and version_folders(lake) == {before.name}


def check_old_versions_are_pruned_and_drop_removes_everything(lake: Lake) -> None:
    """Each commit keeps the version it replaced and prunes older ones; drop leaves nothing."""
    for n in range(4):
        _write(lake, [{"file_id": "a", "n": n}, {"file_id": "b", "n": n}], cursor=str(n))
    version = lake.current("things", "src-1")
    assert version is not None and version.meta == {"cursor": "3"} and version.rows == 2
    assert _read(lake) == [("a", 3), ("b", 3)]
    assert len(version_folders(lake)) == 2
    lake.drop("things", "src-1")
    assert lake.current("things", "src-1") is None and version_folders(lake) == set()


def test_a_failing_writer_leaves_the_last_good_version(tmp_path: Path) -> None:
    check_a_failing_writer_leaves_the_last_good_version(Lake(url=str(tmp_path / "lake")))


def test_a_killed_writer_leaves_the_last_good_version(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    _write(lake, [{"file_id": "a", "n": 1}])
    script = f"""
import os, pyarrow as pa
from resources.lake import Lake
lake = Lake(url={str(tmp_path / "lake")!r})
schema = pa.schema([("file_id", pa.string()), ("n", pa.int64())])
with lake.new_version("things", "src-1", schema=schema) as w:
    w.write(pa.Table.from_pylist([{{"file_id": "x", "n": i}} for i in range(1000)], schema))
    os._exit(9)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=Path.cwd(), check=False)
    assert result.returncode == 9
    assert _read(lake) == [("a", 1)]
    _write(lake, [{"file_id": "b", "n": 2}])
    assert _read(lake) == [("b", 2)]
    # The killed run's folder is pruned by the next commit; the replaced version is kept.
    assert len([p for p in (tmp_path / "lake/things/src-1").iterdir() if p.is_dir()]) == 2


def test_old_versions_are_pruned_and_drop_removes_everything(tmp_path: Path) -> None:
    check_old_versions_are_pruned_and_drop_removes_everything(Lake(url=str(tmp_path / "lake")))
    assert not (tmp_path / "lake/things/src-1").exists()


def test_an_empty_version_has_a_schema(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    _write(lake, [])
    assert _read(lake) == []


def test_rows_spread_over_buckets_and_untouched_buckets_are_inherited(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    _write(
        lake, [{"file_id": "aa1", "n": 1}, {"file_id": "aa2", "n": 2}, {"file_id": "bb1", "n": 3}]
    )
    first = lake.current("things", "src-1")
    assert first is not None and set(first.buckets) == {"aa", "bb"} and first.rows == 3
    with lake.new_version("things", "src-1", schema=SCHEMA) as writer:
        writer.inherit(first, ["aa"])
        writer.write(_table([{"file_id": "bb1", "n": 30}, {"file_id": "cc1", "n": 4}]))
    second = writer.committed
    assert second is not None and second.rows == 4
    assert second.buckets["aa"] == first.buckets["aa"]  # the same part, not a copy
    assert _read(lake) == [("aa1", 1), ("aa2", 2), ("bb1", 30), ("cc1", 4)]
    with (
        pytest.raises(ValueError, match="both written and inherited"),
        lake.new_version("things", "src-1", schema=SCHEMA) as broken,
    ):
        broken.write(_table([{"file_id": "aa9", "n": 9}]))
        broken.inherit(second, ["aa"])
    # The first version's folder still holds parts the current version reads.
    _write(lake, [{"file_id": "dd1", "n": 5}])
    assert (tmp_path / "lake/things/src-1" / first.name).exists()  # read by the previous one
    _write(lake, [{"file_id": "ee1", "n": 6}])
    assert not (tmp_path / "lake/things/src-1" / first.name).exists()
    assert _read(lake) == [("ee1", 6)]


def test_an_attachment_is_one_file_read_whole_in_its_order(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    batches = [pa.record_batch({"file_id": [f"{n:02x}"], "n": [n]}, schema=SCHEMA) for n in (3, 1)]
    with lake.new_version("things", "src-1", schema=SCHEMA) as writer:
        writer.write(_table([{"file_id": "ff", "n": 0}]))
        writer.attach("index", iter(batches), schema=SCHEMA)
    version = lake.current("things", "src-1")
    assert version is not None and list(version.attachments) == ["index"]
    con = duck.connect()
    lake.register_attachment(con, "idx", version, "index")
    assert con.execute("SELECT file_id, n FROM idx").fetchall() == [("03", 3), ("01", 1)]
    with pytest.raises(KeyError, match="no 'other' attachment"):
        lake.register_attachment(con, "x", version, "other")


def test_the_pointer_names_the_version_and_its_manifest_is_read_once(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    _write(lake, [{"file_id": "a", "n": 1}], cursor="one")
    first = lake.current("things", "src-1")
    assert first is not None
    pointer = (tmp_path / "lake/things/src-1/_CURRENT").read_text()
    assert json.loads(pointer) == {"version": first.name}
    # A manifest never changes once written: the same version comes back without a read.
    (tmp_path / "lake/things/src-1" / first.name / "_MANIFEST.json").unlink()
    assert lake.current("things", "src-1") is first
    _write(lake, [{"file_id": "b", "n": 2}], cursor="two")
    second = lake.current("things", "src-1")
    assert second is not None and second.meta == {"cursor": "two"}
    assert _read(lake) == [("b", 2)]


def test_a_part_is_sorted_by_bucket_with_row_groups_split_between_buckets(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    lake = Lake(url=str(tmp_path / "lake"))
    ids = [f"{(n * 7919) % 65536:04x}" for n in range(20_000)]  # every bucket, shuffled
    with lake.new_version("things", "src-1", schema=SCHEMA) as writer:
        for start in range(0, len(ids), 1_000):
            writer.write(_table([{"file_id": i, "n": 1} for i in ids[start : start + 1_000]]))
    version = writer.committed
    assert version is not None and version.rows == 20_000 and len(version.buckets) == 256
    (path,) = version.files()  # one part holds every bucket
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_row_groups > 1
    bounds = [
        (group.column(0).statistics.min[:2], group.column(0).statistics.max[:2])
        for group in (metadata.row_group(n) for n in range(metadata.num_row_groups))
    ]
    # Sorted, and no bucket spans two row groups: a reader of a few buckets skips the others.
    assert all(lo <= hi < next_lo for (lo, hi), (next_lo, _) in itertools.pairwise(bounds))
    assert version.rows_in(["00", "ff"]) == sum(i[:2] in ("00", "ff") for i in ids)


def test_a_manifest_of_one_part_per_bucket_is_read_and_inherited(tmp_path: Path) -> None:
    """Lakes written when every part held one bucket (`{"path", "rows"}` per bucket) stay
    readable, and a new version inherits their parts."""
    import pyarrow.parquet as pq

    folder = tmp_path / "lake/things/src-1/v-old"
    folder.mkdir(parents=True)
    for bucket, rows in {"aa": [("aa1", 1), ("aa2", 2)], "bb": [("bb1", 3)]}.items():
        table = pa.table({"file_id": [r[0] for r in rows], "n": [r[1] for r in rows]}, SCHEMA)
        pq.write_table(table, folder / f"part-{bucket}-00000.parquet")
    buckets = {
        b: [{"path": str(folder / f"part-{b}-00000.parquet"), "rows": n}]
        for b, n in {"aa": 2, "bb": 1}.items()
    }
    manifest = {
        "version": "v-old",
        "buckets": buckets,
        "meta": {},
        "committedAt": "",
        "attachments": {},
    }
    (folder / "_MANIFEST.json").write_text(json.dumps(manifest))
    (tmp_path / "lake/things/src-1/_CURRENT").write_text(json.dumps({"version": "v-old"}))
    lake = Lake(url=str(tmp_path / "lake"))
    old = lake.current("things", "src-1")
    assert old is not None and old.rows == 3 and old.rows_in(["aa"]) == 2
    assert _read(lake) == [("aa1", 1), ("aa2", 2), ("bb1", 3)]
    with lake.new_version("things", "src-1", schema=SCHEMA) as writer:
        writer.inherit(old, ["aa"])
        writer.write(_table([{"file_id": "bb1", "n": 30}]))
    assert _read(lake) == [("aa1", 1), ("aa2", 2), ("bb1", 30)]


def test_a_table_past_the_part_size_spans_parts_and_reads_whole(tmp_path: Path) -> None:
    from resources.lake import PART_BYTES

    lake = Lake(url=str(tmp_path / "lake"))
    schema = pa.schema([("file_id", pa.string()), ("blob", pa.large_string())])
    blob = "x" * (1024 * 1024)
    batches = PART_BYTES // len(blob) + 8  # a little more than one part holds
    with lake.new_version("things", "src-1", schema=schema) as writer:
        for n in range(batches):
            writer.write(pa.table({"file_id": [f"{n % 4:02x}{n}"], "blob": [blob]}, schema))
    version = writer.committed
    assert version is not None and len(version.files()) == 2 and version.rows == batches
    # A bucket written before and after the first part closed has rows in both.
    assert [len(version.buckets[b]) for b in ("00", "03")] == [2, 2]
    con = duck.connect()
    lake.register(con, "t", version, buckets=["03"])
    assert con.execute("SELECT count(*) FROM t").fetchone() == (version.rows_in(["03"]),)
    assert version.rows_in(["03"]) == len(range(3, batches, 4))


def test_an_inherited_part_is_read_for_its_current_buckets_only(tmp_path: Path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    _write(lake, [{"file_id": f"{b}1", "n": 1} for b in ("aa", "bb", "cc", "dd")])
    first = lake.current("things", "src-1")
    assert first is not None
    with lake.new_version("things", "src-1", schema=SCHEMA) as writer:
        writer.inherit(first, ["aa", "bb", "cc"])  # read as all but dd
        writer.write(_table([{"file_id": "dd1", "n": 2}]))
    second = writer.committed
    assert second is not None and second.rows == 4
    assert _read(lake) == [("aa1", 1), ("bb1", 1), ("cc1", 1), ("dd1", 2)]
    con = duck.connect()
    lake.register(con, "picked", second, buckets=["bb", "dd"])  # bb alone of the inherited part
    assert con.execute("SELECT file_id, n FROM picked ORDER BY 1").fetchall() == [
        ("bb1", 1),
        ("dd1", 2),
    ]
