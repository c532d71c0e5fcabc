"""Load the API with 1,000 sources and 10,000 jobs and measure four read endpoints.

    python -m benchmarks.api [--rate N] [--seconds S] [--json]

The store is filled through the store functions in a temporary HEADWATER_HOME, and three
`local` sources are synced for real (in-process Dagster runs), so their figures and files
come from the lake. The API runs under uvicorn in a subprocess on a loopback port; this
process drives it with aiohttp (httpx's shared async pool tops out near 80 requests/s here,
far below what is measured). For each endpoint, an open-loop generator offers a fixed rate
through 50 concurrent clients (latency counts from each request's scheduled start, so a
server that falls behind is not hidden by the generator waiting for it), then a closed loop
of 50 clients finds the highest rate the endpoint sustains. Each endpoint also gets the CPU
time its API workers spent per request (from /proc: Linux only), which a machine shared with
other work stretches far less than latency; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from pydantic import SecretStr

from api.auth import mint_token
from benchmarks.procs import api_workers, cpu_s, load
from resources.dagster_home import PROJECT_ROOT

USER = "bench"
SECRET = "benchmark-signing-key-" + "x" * 32
SOURCES = 1_000
JOBS_PER_SOURCE = 10
SYNCED_SOURCES = 3
FILES_PER_SOURCE = 300
CLIENTS = 50
START_DEADLINE_S = 120  # generous: a loaded 2-core machine imports slowly
REQUEST_TIMEOUT_S = 10
# Past seed 000's 100/minute: the benchmark measures serving, not throttling.
UNTHROTTLED = "1000000/minute"
ENDPOINTS = ("GET /sources", "GET /sources/:id", "GET /jobs/:id", "GET /sources/:id/files")


@dataclass(frozen=True, slots=True)
class Fixture:
    """What the store holds: every source and job id, and the sources with lake data."""

    source_ids: list[str]
    job_ids: list[str]
    synced_ids: list[str]


@dataclass(frozen=True, slots=True)
class Result:
    """One endpoint under one load."""

    endpoint: str
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float


def _write_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    for n in range(FILES_PER_SOURCE):
        package = root / f"pkg{n % 10}"
        package.mkdir(exist_ok=True)
        if n % 2:
            (package / f"mod{n}.py").write_text(f"def f{n}(x: int) -> int:\n    return x + {n}\n")
        else:
            (package / f"note{n}.md").write_text(f"# Note {n}\n\nBody of note {n}.\n")
    return root


def seed(home: Path, folders: Path) -> Fixture:
    """Sync SYNCED_SOURCES real sources, then fill the store up to SOURCES and their jobs."""
    from cli.runner import run_in_process
    from resources.dagster_home import dagster_instance
    from resources.metadata import MetadataStore
    from resources.settings import Settings
    from resources.store import jobs, sources
    from resources.store.models import JobStatus, SyncType
    from resources.store.owners import Owner

    settings = Settings(home=home, jwt_secret=SecretStr(SECRET))
    store = MetadataStore(database_url=settings.resolved_database_url)
    instance = dagster_instance(settings)
    synced: list[str] = []
    for n in range(SYNCED_SOURCES):
        folder = _write_folder(folders / f"folder{n}")
        with store.session() as session:
            source = sources.create_source(
                session,
                owner_id=USER,
                tenant_id=None,
                type="local",
                name=folder.name,
                config={"path": str(folder)},
            )
            job = jobs.create_job(session, source=source, type=SyncType.FULL, trigger="benchmark")
            synced.append(source.id)
            job_id = job.id
        run_in_process(settings=settings, instance=instance, store=store, job_id=job_id)
    instance.dispose()
    now = datetime.now(UTC)
    with store.session() as session:
        for n in range(SOURCES - SYNCED_SOURCES):
            sources.create_source(
                session,
                owner_id=USER,
                tenant_id=None,
                type="local",
                name=f"source-{n}",
                config={"path": f"/data/source-{n}"},
            )
        every = sources.list_sources(session, owner=Owner(USER), limit=SOURCES)[0]
        for source in every:
            history = JOBS_PER_SOURCE - (1 if source.id in synced else 0)
            for k in range(history):
                job = jobs.create_job(
                    session, source=source, type=SyncType.INCREMENTAL, trigger="schedule"
                )
                started = now - timedelta(hours=k + 1)
                jobs.mark_running(session, job.id, run_id=f"run-{job.id}", started_at=started)
                jobs.close_job(
                    session,
                    job.id,
                    status=JobStatus.COMPLETED,
                    completed_at=started + timedelta(seconds=30 + k),
                )
        all_jobs = jobs.list_jobs(session, owner=Owner(USER), limit=SOURCES * JOBS_PER_SOURCE)[0]
        return Fixture(
            source_ids=[s.id for s in every], job_ids=[j.id for j in all_jobs], synced_ids=synced
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Served:
    """A running API: its base URL, and the uvicorn process (with workers, their parent)."""

    url: str
    pid: int


def headwater_env(home: Path, **settings: str) -> dict[str, str]:
    """This environment without Headwater's settings, then `home`, the signing key and
    `settings` (`HEADWATER_...` names)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")},
        "HEADWATER_HOME": str(home),
        "HEADWATER_JWT_SECRET": SECRET,
        **settings,
    }


@contextmanager
def serve(home: Path, *, workers: int, env: dict[str, str]) -> Iterator[Served]:
    """The API under uvicorn (`workers` processes) with `env`; stopped when the block ends."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app"]
    log = home / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield Served(url=url, pid=process.pid)
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"the API did not come up:\n{log.read_text()[-3000:]}")


def _paths(fixture: Fixture) -> dict[str, Callable[[], str]]:
    rng = random.Random(0)
    return {
        "GET /sources": lambda: "/sources",
        "GET /sources/:id": lambda: f"/sources/{rng.choice(fixture.source_ids)}",
        "GET /jobs/:id": lambda: f"/jobs/{rng.choice(fixture.job_ids)}",
        "GET /sources/:id/files": lambda: _files_path(rng, fixture),
    }


def _files_path(rng: random.Random, fixture: Fixture) -> str:
    """A files query as a client might send: a source, maybe a folder, maybe a language."""
    params = []
    if folder := rng.choice([None, *(f"pkg{n}/" for n in range(10))]):
        params.append(f"path={folder}")
    if language := rng.choice([None, "python", "markdown"]):
        params.append(f"language={language}")
    query = f"?{'&'.join(params)}" if params else ""
    return f"/sources/{rng.choice(fixture.synced_ids)}/files{query}"


def summarize(endpoint: str, latencies: list[float], errors: int, elapsed: float) -> Result:
    """Requests, errors, rate and latency percentiles of one load."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
    return Result(
        endpoint=endpoint,
        requests=len(latencies),
        errors=errors,
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(statistics.median(ordered) * 1000, 1) if ordered else float("nan"),
        p99_ms=round(p99 * 1000, 1),
    )


async def _ok(client: aiohttp.ClientSession, path: str) -> bool:
    """Whether `GET path` answered 200; a timeout or a dropped connection is a failure."""
    try:
        async with client.get(path) as response:
            await response.read()
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


@dataclass(frozen=True, slots=True)
class Sample:
    """One request of an open loop: when it was due (seconds from the start), how long its
    answer took from then, and whether it was the expected one."""

    due: float
    latency: float
    ok: bool


async def offer(
    send: Callable[[int], Awaitable[bool]], *, rate: float, count: int
) -> tuple[list[Sample], float]:
    """Call `send(0)` ... `send(count - 1)` at `rate` a second through CLIENTS workers.

    Latency counts from each call's scheduled start, so a server that falls behind is not
    hidden by the generator waiting for it.

    Returns:
        The samples in the order they finished, and the seconds the whole load took.
    """
    indexes = iter(range(count))
    samples: list[Sample] = []
    started = time.perf_counter() + 0.1

    async def worker() -> None:
        for i in indexes:
            due = started + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            ok = await send(i)
            samples.append(Sample(due - started, time.perf_counter() - due, ok))

    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(CLIENTS))), timeout=count / rate * 3 + 30
    )
    return samples, time.perf_counter() - started


async def open_loop(
    client: aiohttp.ClientSession,
    endpoint: str,
    path: Callable[[], str],
    *,
    rate: float,
    seconds: float,
) -> Result:
    """Offer `rate` requests/s for `seconds` through CLIENTS workers."""
    samples, elapsed = await offer(
        lambda _: _ok(client, path()), rate=rate, count=int(rate * seconds)
    )
    latencies = [sample.latency for sample in samples]
    return summarize(endpoint, latencies, sum(not sample.ok for sample in samples), elapsed)


async def closed_loop(
    client: aiohttp.ClientSession, endpoint: str, path: Callable[[], str], *, seconds: float
) -> Result:
    """CLIENTS workers each sending their next request as soon as the last one is answered."""
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    stop = started + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            ok = await _ok(client, path())
            latencies.append(time.perf_counter() - sent)
            errors += not ok

    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return summarize(endpoint, latencies, errors, time.perf_counter() - started)


async def drive(
    url: str, fixture: Fixture, *, rate: float, seconds: float, workers: list[int]
) -> dict[str, dict[str, Any]]:
    """Both loads on every endpoint, one endpoint at a time, and the CPU time the `workers`
    (processes) spent per request over both: on a shared machine latency stretches with
    whatever else runs, CPU time much less."""
    token = mint_token(SECRET, user=USER, ttl=timedelta(hours=1))
    report: dict[str, dict[str, Any]] = {}
    async with aiohttp.ClientSession(
        url,
        headers={"Authorization": f"Bearer {token}"},
        connector=aiohttp.TCPConnector(limit=CLIENTS),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
    ) as client:
        for endpoint, path in _paths(fixture).items():
            for _ in range(20):  # warm up: connections, first imports, caches
                if not await _ok(client, path()):
                    raise RuntimeError(f"{endpoint} fails before any load")
            cpu_before = cpu_s(workers)
            offered = await open_loop(client, endpoint, path, rate=rate, seconds=seconds)
            peak = await closed_loop(client, endpoint, path, seconds=seconds / 2)
            cpu_ms = (cpu_s(workers) - cpu_before) * 1000 / (offered.requests + peak.requests)
            report[endpoint] = {
                "open": asdict(offered),
                "closed": asdict(peak),
                "cpu_ms_per_request": round(cpu_ms, 2),
            }
    return report


def run(
    *, rate: float, seconds: float, redis_url: str | None, workers: int, files_page_cache: int
) -> dict[str, Any]:
    """Seed a store, serve it and measure; everything as a dict."""
    with tempfile.TemporaryDirectory(prefix="headwater-bench-api-") as tmp:
        home = Path(tmp) / "home"
        seeding = time.perf_counter()
        fixture = seed(home, Path(tmp) / "folders")
        seeded_s = time.perf_counter() - seeding
        env = headwater_env(
            home,
            HEADWATER_RATE_LIMIT_DEFAULT=UNTHROTTLED,
            HEADWATER_FILES_PAGE_CACHE=str(files_page_cache),
            **({"HEADWATER_REDIS_URL": redis_url} if redis_url else {}),
        )
        with serve(home, workers=workers, env=env) as served:
            load_before = load()
            endpoints = asyncio.run(
                drive(
                    served.url,
                    fixture,
                    rate=rate,
                    seconds=seconds,
                    workers=api_workers(served.pid),
                )
            )
            load_after = load()
    return {
        "load_before": load_before,
        "load_after": load_after,
        "sources": len(fixture.source_ids),
        "jobs": len(fixture.job_ids),
        "files_per_synced_source": FILES_PER_SOURCE,
        "clients": CLIENTS,
        "offered_rps": rate,
        "seconds": seconds,
        "rate_limit_storage": "redis" if redis_url else "metadata database",
        "workers": workers,
        "files_page_cache": files_page_cache,
        "seed_s": round(seeded_s, 1),
        "endpoints": endpoints,
    }


def _write_table(report: dict[str, Any]) -> None:
    lines = [
        f"load average {report['load_before']} before, {report['load_after']} after",
        f"{report['sources']} sources, {report['jobs']} jobs, {report['clients']} clients, "
        f"{report['offered_rps']:g} requests/s offered for {report['seconds']:g} s, "
        f"{report['workers']} API worker(s), files page cache {report['files_page_cache']}, "
        f"rate limits counted in the {report['rate_limit_storage']}",
        "",
        f"{'endpoint':<24}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'max req/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}",
    ]
    for endpoint, loads in report["endpoints"].items():
        offered, peak = loads["open"], loads["closed"]
        lines.append(
            f"{endpoint:<24}{offered['rps']:>8}{offered['p50_ms']:>9}{offered['p99_ms']:>9}"
            f"{offered['errors'] + peak['errors']:>8}{peak['rps']:>11}{peak['p50_ms']:>9}"
            f"{peak['p99_ms']:>9}{loads['cpu_ms_per_request']:>12}"
        )
    sys.stdout.write("\n".join(lines) + "\n")


def emit(report: dict[str, Any], *, as_json: bool, table: Callable[[dict[str, Any]], None]) -> None:
    """Print the report as JSON, or as `table` writes it."""
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        table(report)


def main() -> None:
    """Command line: the table, or the report as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200, help="Offered requests/s.")
    parser.add_argument("--seconds", type=float, default=10, help="Open-loop time per endpoint.")
    parser.add_argument(
        "--redis-url",
        default=None,
        help="Count rate limits in this Redis (as HEADWATER_REDIS_URL) instead of the store.",
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes.")
    parser.add_argument(
        "--files-page-cache",
        type=int,
        default=512,
        help="HEADWATER_FILES_PAGE_CACHE of the API (0: every files page read with DuckDB).",
    )
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    args = parser.parse_args()
    report = run(
        rate=args.rate,
        seconds=args.seconds,
        redis_url=args.redis_url,
        workers=args.workers,
        files_page_cache=args.files_page_cache,
    )
    emit(report, as_json=args.json, table=_write_table)


if __name__ == "__main__":
    main()
