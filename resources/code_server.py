"""One Dagster code server shared by the webserver and the daemon, as `dagster dev` runs them.

Given `workspace.yaml`'s `python_module` entry, `dagster-webserver` and `dagster-daemon` each
start a code server of their own, and the daemon replaces its server every 60 s, importing
the code location again each time. Instead, `dagster code-server start` runs it once, and a
generated workspace (a `grpc_server` entry) points both at it: one import, one process tree,
reloaded only when asked (the UI's "Reload" button). Its run workers are the same as before.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import grpc
import yaml
from grpc_health.v1 import health_pb2
from grpc_health.v1.health_pb2_grpc import HealthStub

from resources.dagster_home import WORKSPACE_YAML
from resources.ports import free_port

LOCATION = yaml.safe_load(WORKSPACE_YAML.read_text())["load_from"][0]["python_module"]
# The name the Dagster code server registers its gRPC health service under.
HEALTH_SERVICE = "DagsterApi"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
POLL_S = 0.25


@contextmanager
def shared_code_server(
    dagster_home: Path, env: dict[str, str], *, output: IO[bytes] | None = None
) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """Start the code server, wait until it serves, write the workspace naming it.

    Yields the workspace file (for `dagster-webserver -w` and `dagster-daemon run -w`) and
    the server's process; interrupts it on exit (killed after `STOP_TIMEOUT_S`).
    """
    port = free_port()
    server = subprocess.Popen(code_server_command(port), env=env, stdout=output, stderr=output)
    try:
        wait_until_serving(port, server)
        yield write_shared_workspace(dagster_home, port), server
    finally:
        stop_processes([server])


def stop_processes(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Interrupt each process still running (Ctrl-C: each shuts down cleanly), then wait for
    each; one still running after `STOP_TIMEOUT_S` is killed."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()


def code_server_command(port: int) -> list[str]:
    """`dagster code-server start` for `workspace.yaml`'s code location on loopback `port`."""
    return [
        str(Path(sys.executable).parent / "dagster"),
        "code-server",
        "start",
        "--module-name",
        LOCATION["module_name"],
        "--attribute",
        LOCATION["attribute"],
        "--location-name",
        LOCATION["location_name"],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def write_shared_workspace(dagster_home: Path, port: int) -> Path:
    """A workspace file in `dagster_home` naming the code server on `port`; its path."""
    workspace = dagster_home / "workspace.yaml"
    entry = {"host": "127.0.0.1", "port": port, "location_name": LOCATION["location_name"]}
    workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": entry}]}))
    return workspace


def wait_until_serving(port: int, server: subprocess.Popen[bytes]) -> None:
    """Return once the code server on `port` answers its health check as serving.

    Raises:
        RuntimeError: The server exited, or did not serve within `START_TIMEOUT_S`.
    """
    deadline = time.monotonic() + START_TIMEOUT_S
    request = health_pb2.HealthCheckRequest(service=HEALTH_SERVICE)
    serving = health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = HealthStub(channel)
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the code server exited with status {server.returncode}")
            try:
                if health.Check(request, timeout=POLL_S).status == serving:
                    return
            except grpc.RpcError:
                pass  # not listening yet
            time.sleep(POLL_S)
    raise RuntimeError(f"the code server did not serve within {START_TIMEOUT_S:.0f} s")
