"""The lake on each object store pyarrow reaches: S3 (moto), Azure (Azurite), GCS (fake-gcs-server).

The same calls as on a local disk: a version becomes current whole, a failed writer leaves
the last good one readable, old versions are pruned, and DuckDB reads through Arrow.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from resources.lake import AZURE_ACCOUNT_KEY, Lake
from tests.object_stores import AZURITE_KEY, Emulator, running_azurite, running_fake_gcs
from tests.profile import PRODUCTION, only_in
from tests.unit.test_lake import (
    check_a_failing_writer_leaves_the_last_good_version,
    check_old_versions_are_pruned_and_drop_removes_everything,
)

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


def test_versions_switch_whole_and_old_ones_are_pruned(lake: Lake) -> None:
    check_old_versions_are_pruned_and_drop_removes_everything(lake)


def test_a_failing_writer_leaves_the_last_good_version(lake: Lake) -> None:
    check_a_failing_writer_leaves_the_last_good_version(lake)
