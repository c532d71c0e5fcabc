"""git:// and ssh remotes go to the address the egress policy checked, never to a new answer.

The remote's name resolves only through this process's resolver (the test stands in for DNS
there); git itself cannot resolve it, so a command that reaches the server connected to the
checked address, and a name whose answer turns link-local is refused before git starts.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resources.connectors.git import GitConnector
from tests.git_servers import SshServer, git_daemon, ssh_server
from tests.gitrepo import head, seeded_repository
from tests.profile import EMBEDDED, only_in

pytestmark = only_in(EMBEDDED)

NAME = "repo.headwater.test"
# A loopback address of its own: nothing else listens there.
ADDRESS = "127.0.0.2"
METADATA = "169.254.169.254"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_repository(tmp_path_factory.mktemp("served") / "docs")


@pytest.fixture(scope="module")
def daemon_port(repo: Path) -> Iterator[int]:
    with git_daemon(repo.parent, host=ADDRESS) as port:
        yield port


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with ssh_server(tmp_path_factory.mktemp("sshd") / "sshd", host=ADDRESS) as server:
        yield server


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names this process resolves to the address the test sets (IPv4, one answer)."""
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def _ssh_connector(server: SshServer, repo: Path, workdir: Path, *, known_as: str) -> GitConnector:
    """A connector to `repo` over ssh that trusts the server's host key under `known_as` only."""
    known_hosts = workdir.parent / "known_hosts"
    known_hosts.write_text(f"{known_as} {server.host_key}\n")
    ssh = (
        f"ssh -F none -i {server.client_key} -o IdentitiesOnly=yes -o BatchMode=yes "
        f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts}"
    )
    url = f"ssh://{getpass.getuser()}@{NAME}:{server.port}{repo}"
    return GitConnector({"url": url}, workdir=workdir, extra_env={"GIT_SSH_COMMAND": ssh})


def test_git_protocol_connects_to_the_checked_address(
    daemon_port: int, repo: Path, dns: dict[str, str], tmp_path: Path
) -> None:
    dns[NAME] = ADDRESS
    connector = GitConnector(
        {"url": f"git://{NAME}:{daemon_port}/docs"}, workdir=tmp_path / "cache"
    )

    result = connector.check()
    changes = connector.changes(cursor=None, known={})

    assert result.ok, result.message
    assert result.details["head"] == changes.cursor == head(repo)


def test_ssh_connects_to_the_checked_address_and_checks_the_name_s_host_key(
    sshd: SshServer, repo: Path, dns: dict[str, str], tmp_path: Path
) -> None:
    dns[NAME] = ADDRESS
    named = _ssh_connector(sshd, repo, tmp_path / "named", known_as=f"[{NAME}]:{sshd.port}")

    result = named.check()
    changes = named.changes(cursor=None, known={})

    assert result.ok, result.message
    assert result.details["head"] == changes.cursor == head(repo)
    # The key is looked up under the name, not the address connected to.
    by_address = _ssh_connector(sshd, repo, tmp_path / "other", known_as=f"[{ADDRESS}]:{sshd.port}")
    refused = by_address.check()
    assert not refused.ok and "host key verification failed" in refused.message.lower()


@pytest.mark.parametrize(
    "url", [f"git://{NAME}/docs", f"ssh://git@{NAME}/docs", f"git@{NAME}:docs"]
)
def test_a_name_that_resolves_to_the_metadata_service_is_refused(
    url: str, dns: dict[str, str], tmp_path: Path
) -> None:
    dns[NAME] = METADATA

    result = GitConnector({"url": url}, workdir=tmp_path / "cache").check()

    assert not result.ok
    assert METADATA in result.message and "link-local" in result.message
