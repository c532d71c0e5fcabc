"""The lake on each object store pyarrow reaches: S3 (moto), Azure (Azurite), GCS (fake-gcs-server).

The same calls as on a local disk: a version becomes current whole, a failed writer leaves
the last good one readable, old versions are pruned, and DuckDB reads through Arrow.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pyarrow.fs as pafs
import pytest

from resources.lake import AZURE_ACCOUNT_KEY, Lake
from tests.object_stores import AZURITE_KEY, Emulator, running_azurite, running_fake_gcs
from tests.profile import PRODUCTION, only_in
from tests.unit.test_lake import SCHEMA, _read, _write

# The production pass has moto running already.
pytestmark = only_in(PRODUCTION)


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_azurite(tmp_path_factory.mktemp("azurite") / "azurite.log") as emulator:
        yield emulator


@pytest.fixture(scope="module")
def fake_gcs() -> Iterator[Emulator]:
    with running_fake_gcs() as emulator:
        yield emulator


@pytest.fixture(params=["s3_server", "azurite", "fake_gcs"])
def lake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Lake:
    """A fresh lake on each object store (its credentials in the environment)."""
    monkeypatch.setenv(AZURE_ACCOUNT_KEY, AZURITE_KEY)
    store = request.getfixturevalue(request.param)
    return Lake(url=store.lake_url(f"lake-{uuid.uuid4().hex[:8]}"))


def _version_folders(lake: Lake) -> set[str]:
    """The version folders that hold objects (GCS lists no folder pyarrow did not make)."""
    opened = lake.opened
    base = f"{opened.root}/things/src-1"
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    paths = [info.path.removeprefix(f"{base}/") for info in opened.fs.get_file_info(selector)]
    return {path.split("/")[0] for path in paths if path.startswith("v-")}


def test_versions_switch_whole_and_old_ones_are_pruned(lake: Lake) -> None:
    for n in range(3):
        _write(lake, [{"file_id": "a", "n": n}, {"file_id": "b", "n": n}], cursor=str(n))

    version = lake.current("things", "src-1")
    assert version is not None and version.meta == {"cursor": "2"} and version.rows == 2
    assert _read(lake) == [("a", 2), ("b", 2)]
    assert len(_version_folders(lake)) == 2  # the current one and the one it replaced
    lake.drop("things", "src-1")
    assert lake.current("things", "src-1") is None and _version_folders(lake) == set()


def test_a_failing_writer_leaves_the_last_good_version(lake: Lake) -> None:
    _write(lake, [{"file_id": "a", "n": 1}])
    before = lake.current("things", "src-1")

    with pytest.raises(RuntimeError), lake.new_version("things", "src-1", schema=SCHEMA) as w:
        w.write_rows([{"file_id": "z", "n": 9}])
        raise RuntimeError("connector died")

    assert lake.current("things", "src-1") == before
    assert _read(lake) == [("a", 1)]
    assert before is not None and _version_folders(lake) == {before.name}
