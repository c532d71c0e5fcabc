"""Real git servers on a loopback address for tests: `git daemon` (git://) and `sshd` (ssh://)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from resources.ports import free_port

START_DEADLINE_S = 10.0
SSHD = Path("/usr/sbin/sshd")
# Where a root sshd drops privileges before authentication; it must exist.
PRIVSEP_DIR = Path("/run/sshd")


@contextmanager
def _serving(command: list[str], *, host: str, port: int, log: Path) -> Iterator[None]:
    """Run `command` until the block ends, once `host:port` accepts connections."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start: {log.read_text()}") from None
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=START_DEADLINE_S)


@contextmanager
def git_daemon(base: Path, *, host: str) -> Iterator[int]:
    """`git daemon` exporting every repository under `base` on `host`; yields its port."""
    port = free_port(host)
    command = [
        "git",
        "daemon",
        f"--listen={host}",
        f"--port={port}",
        f"--base-path={base}",
        "--export-all",
        "--reuseaddr",
        "--informative-errors",
        str(base),
    ]
    with _serving(command, host=host, port=port, log=base.parent / "git-daemon.log"):
        yield port


@dataclass(frozen=True)
class SshServer:
    """A running sshd: its port, its host key's public line and a client key it accepts."""

    port: int
    host_key: str
    client_key: Path


def _keygen(path: Path) -> str:
    """A new ed25519 key pair at `path`; the public key's line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


@contextmanager
def ssh_server(folder: Path, *, host: str) -> Iterator[SshServer]:
    """An sshd of its own (throwaway host and client keys) on `host`, logging in as us.

    Skips when openssh-server is missing (`make install` installs it) or when not root (a
    root sshd needs `PRIVSEP_DIR`, made here).
    """
    if not SSHD.exists() or shutil.which("ssh") is None:
        pytest.skip("openssh-server is not installed (make install installs it)")
    if os.geteuid() != 0:
        pytest.skip("the test's sshd logs in as its own user, which needs root")
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    folder.mkdir(parents=True)
    host_key = _keygen(folder / "host_key")
    (folder / "authorized_keys").write_text(_keygen(folder / "client_key") + "\n")
    port = free_port(host)
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress {host}:{port}\n"
        f"HostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\n"
        f"PidFile {folder / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "StrictModes no\n"
        "UsePAM no\n"
    )
    command = [str(SSHD), "-D", "-e", "-f", str(config)]
    with _serving(command, host=host, port=port, log=folder / "sshd.log"):
        yield SshServer(port=port, host_key=host_key, client_key=folder / "client_key")
