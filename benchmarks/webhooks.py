"""Webhook ingress, the delay from a delivery to its run, and a soak mode (issue 6).

    python -m benchmarks.webhooks [--rate 1000] [--seconds 60] [--workers 1] [--sources 4]
                                  [--probes 20] [--json]
    python -m benchmarks.webhooks --minutes N [--rate 1000] [--workers 2] [--sources 4]

A temporary HEADWATER_HOME gets `--sources` `github` sources, each on its own repository
served by the fake GitHub of the tests (REST and `git http-backend`, in a child process), and
a webhook secret each. The API runs under uvicorn in another process; this one drives it with
aiohttp, offering signed `push` deliveries at `--rate` a minute (open loop, latency counted
from each delivery's scheduled start: see `benchmarks.api.offer`).

Default mode, in two phases:
1. Ingress: `--seconds` of deliveries with no daemon running, so the API does nothing but
   verify, store and queue: requests/s, p50/p99 of the acknowledgement, and deliveries
   accepted (200) == deliveries stored (rows counted in the store).
2. Delivery to run: `dagster-daemon run` on the same DAGSTER_HOME, with its code server
   shared as `headwater up` runs it (`resources/code_server.py`), drains what phase 1 queued,
   then `--probes` times a commit is pushed to an idle source and its delivery sent, at a
   random moment of the sensor daemon's 5-second loop; the delay runs from the delivery's
   acknowledgement to its run's start in the Dagster instance, split into the sensor (until
   the run is enqueued: the wait for the tick that saw the job, then the tick), the run queue
   (until dequeued) and the launch (until the run worker started the run); and the CPU the
   daemon, its code server and their run workers used per probe (the probe's sync included).

Soak (`--minutes N`): `--workers` API processes (default 2) take N minutes of deliveries while
the daemon turns them into syncs (a commit is pushed to every repository each minute, so the
syncs have work). Each minute reports deliveries accepted and stored, jobs and runs so far,
the minute's p99 acknowledgement, and the resident memory of the API workers, the daemon and
its code server (from /proc: Linux only). At the end: accepted == stored, one run per job, no
job left behind, runs of a source never overlapping.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from pydantic import SecretStr

from benchmarks.api import (
    CLIENTS,
    REQUEST_TIMEOUT_S,
    SECRET,
    START_DEADLINE_S,
    Sample,
    emit,
    headwater_env,
    offer,
    serve,
)
from benchmarks.procs import api_workers, children, cmdline, load, rss_mib, tree_cpu_s
from tests.fakes.webhooks import Commit, github_delivery, github_push
from tests.gitrepo import AUTHOR_ENV

OWNER = "bench"
USER = "bench"
FILES_PER_SOURCE = 20
# Past seed 000's 1,000 deliveries a minute per account: the benchmark measures serving.
UNTHROTTLED = "1000000/minute"
SENSOR_LOOP_S = 5.0  # dagster's sensor daemon evaluates sensors every 5 s at most
POLL_S = 0.1
DRAIN_DEADLINE_S = 900
RUN_START_DEADLINE_S = 300
MINUTE_S = 60
SOAK_WORKERS = 2


@dataclass(frozen=True, slots=True)
class BenchSource:
    """A `github` source of the benchmark: its repository, working copy and webhook secret."""

    source_id: str
    name: str
    secret: str
    work: Path

    @property
    def full_name(self) -> str:
        return f"{OWNER}/{self.name}"


@dataclass(slots=True)
class Ack:
    """The answer to one delivery: when it arrived (epoch s), its status and job."""

    at: float
    status: int
    job_id: str | None


@dataclass(slots=True)
class Ingress:
    """What a load of deliveries got: every sample and answer, by delivery number."""

    samples: list[Sample] = field(default_factory=list)
    acks: dict[int, Ack] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def accepted(self) -> int:
        return sum(ack.status == 200 for ack in self.acks.values())


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **AUTHOR_ENV},
    )
    return done.stdout.strip()


def _work_repository(root: Path) -> Path:
    root.mkdir(parents=True)
    _git(root, "init", "--quiet", "--initial-branch=main")
    for n in range(FILES_PER_SOURCE):
        kind = "py" if n % 2 else "md"
        text = f"def f{n}() -> int:\n    return {n}\n" if n % 2 else f"# Note {n}\n\nBody.\n"
        (root / f"file{n}.{kind}").write_text(text)
    _git(root, "add", ".")
    _git(root, "commit", "--quiet", "-m", "first")
    return root


def _serve_github(
    root: Path, repositories: list[tuple[str, Path]], urls: Queue[str], stop: Event
) -> None:
    """Child process: the fake GitHub for `repositories` (name, working copy) until `stop`."""
    from tests.fakes.github_server import FAKE_TOKEN, running_github_server

    with running_github_server(root, token=FAKE_TOKEN) as server:
        for name, work in repositories:
            bare = server.add_repository(OWNER, name, source=work)
            _git(work, "remote", "add", "origin", str(bare))
        urls.put(server.api_url)
        stop.wait()


@contextmanager
def fake_github(root: Path, repositories: list[tuple[str, Path]]) -> Iterator[str]:
    """The fake GitHub in a child process (so it takes no time from the load generator's
    interpreter), as its REST base URL."""
    context = multiprocessing.get_context("spawn")
    urls: Queue[str] = context.Queue()
    stop = context.Event()
    process = context.Process(target=_serve_github, args=(root, repositories, urls, stop))
    process.start()
    try:
        yield urls.get(timeout=START_DEADLINE_S)
    finally:
        stop.set()
        process.join(timeout=20)


def seed(home: Path, *, api_url: str, works: dict[str, Path]) -> list[BenchSource]:
    """Create a `github` source per repository, with a webhook secret and a queued full sync."""
    from resources.metadata import MetadataStore
    from resources.settings import Settings
    from resources.source_configs import sealed_config
    from resources.store import jobs, sources
    from resources.store.models import SyncType
    from resources.vault import Vault
    from resources.webhooks.setup import issue_secret
    from tests.fakes.github_server import FAKE_TOKEN

    settings = Settings(home=home, jwt_secret=SecretStr(SECRET))
    store = MetadataStore(database_url=settings.resolved_database_url)
    vault = Vault.from_settings(settings)
    seeded = []
    with store.session() as session:
        for name, work in works.items():
            config = {
                "owner": OWNER,
                "repo": name,
                "branch": "main",
                "token": FAKE_TOKEN,
                "apiUrl": api_url,
            }
            source = sources.create_source(
                session,
                owner_id=USER,
                tenant_id=None,
                type="github",
                name=name,
                config=sealed_config(vault, "github", config),
            )
            secret = issue_secret(vault, source)
            assert secret is not None
            jobs.create_job(session, source=source, type=SyncType.FULL, trigger="benchmark")
            seeded.append(BenchSource(source_id=source.id, name=name, secret=secret, work=work))
    return seeded


@dataclass
class Dagster:
    """The daemon and the code server it runs on, as `headwater up` starts them."""

    daemon: subprocess.Popen[bytes]
    code_server: subprocess.Popen[bytes]

    def cpu_s(self) -> float:
        """CPU seconds of both process trees so far (run workers included)."""
        return tree_cpu_s(self.daemon.pid) + tree_cpu_s(self.code_server.pid)


@contextmanager
def dagster(env: dict[str, str], log: Path) -> Iterator[Dagster]:
    """The shared code server and `dagster-daemon run` on it, with `env` (DAGSTER_HOME
    included), as `headwater up` runs them; both write to `log`."""
    from resources.code_server import shared_code_server

    with (
        log.open("wb") as out,
        shared_code_server(Path(env["DAGSTER_HOME"]), env, output=out) as (workspace, server),
    ):
        command = [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(workspace)]
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield Dagster(daemon=process, code_server=server)
        finally:
            process.terminate()
            process.wait(timeout=60)


def _push_delivery(source: BenchSource, *, before: str, after: str) -> tuple[bytes, dict[str, str]]:
    payload = github_push(
        source.full_name, branch="main", before=before, after=after, commits=[Commit(after)]
    )
    delivery = github_delivery(payload, secret=source.secret)
    return delivery.body, delivery.headers


async def deliver(
    url: str, sources: list[BenchSource], *, rate_per_s: float, count: int
) -> Ingress:
    """Offer `count` push deliveries, round robin over `sources`, at `rate_per_s`."""
    heads = {source.source_id: _git(source.work, "rev-parse", "HEAD") for source in sources}
    ingress = Ingress()
    async with aiohttp.ClientSession(
        url,
        connector=aiohttp.TCPConnector(limit=CLIENTS),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
    ) as client:

        async def send(i: int) -> bool:
            source = sources[i % len(sources)]
            head = heads[source.source_id]
            body, headers = _push_delivery(source, before=head, after=head)
            try:
                async with client.post("/webhooks/github", data=body, headers=headers) as answer:
                    document = await answer.json(content_type=None)
                    job_id = document.get("jobId") if answer.status == 200 else None
                    ingress.acks[i] = Ack(time.time(), answer.status, job_id)
                    return answer.status == 200
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return False

        ingress.samples, ingress.elapsed_s = await offer(send, rate=rate_per_s, count=count)
    return ingress


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def ingress_report(ingress: Ingress, *, stored: int) -> dict[str, Any]:
    """Requests/s, acknowledgement percentiles, accepted and stored."""
    latencies = [sample.latency for sample in ingress.samples]
    return {
        "deliveries": len(ingress.samples),
        "accepted": ingress.accepted,
        "stored": stored,
        "errors": sum(not sample.ok for sample in ingress.samples),
        "rps": round(len(latencies) / ingress.elapsed_s, 1),
        "p50_ms": _ms(statistics.median(latencies)) if latencies else float("nan"),
        "p99_ms": _ms(_percentile(latencies, 0.99)),
        "max_ms": _ms(max(latencies, default=float("nan"))),
        "jobs": len({ack.job_id for ack in ingress.acks.values() if ack.job_id}),
    }


class Watch:
    """What the metadata store and the Dagster instance say about the benchmark's work."""

    def __init__(self, home: Path) -> None:
        from dagster import DagsterInstance

        from resources.metadata import MetadataStore
        from resources.settings import Settings

        settings = Settings(home=home, jwt_secret=SecretStr(SECRET))
        self.store = MetadataStore(database_url=settings.resolved_database_url)
        self.instance = DagsterInstance.from_config(str(home / "dagster"))

    def stored_deliveries(self) -> int:
        from resources.store import webhooks

        with self.store.session() as session:
            return webhooks.count_deliveries(session, provider="github")

    def pending(self, source_id: str | None = None) -> int:
        """Jobs queued or running (of one source, if given)."""
        from resources.store import jobs
        from resources.store.models import JobStatus

        with self.store.session() as session:
            return sum(
                jobs.list_jobs(session, source_id=source_id, status=status, limit=1)[1]
                for status in (JobStatus.QUEUED, JobStatus.RUNNING)
            )

    def drain(self) -> float:
        """Wait until no job is queued or running; the seconds it took."""
        started = time.monotonic()
        while self.pending():
            if time.monotonic() - started > DRAIN_DEADLINE_S:
                raise RuntimeError(f"jobs still pending after {DRAIN_DEADLINE_S} s")
            time.sleep(1)
        return time.monotonic() - started

    def run_start(self, job_id: str) -> dict[str, float]:
        """When the sensor tick that requested the run of `job_id` began, and when the run was
        enqueued, dequeued and started (epoch s), once started."""
        from dagster import DagsterEventType, RunsFilter
        from dagster._core.storage.tags import TICK_ID_TAG

        from resources.run_tags import JOB_TAG

        deadline = time.monotonic() + RUN_START_DEADLINE_S
        while time.monotonic() < deadline:
            records = self.instance.get_run_records(RunsFilter(tags={JOB_TAG: job_id}))
            if records and records[0].start_time is not None:
                run_id = records[0].dagster_run.run_id
                # The run coordinator reports a dequeued run as RUN_STARTING (it never
                # reports RUN_DEQUEUED), right before the launcher starts its worker.
                wanted = {
                    DagsterEventType.RUN_ENQUEUED: "enqueued",
                    DagsterEventType.RUN_STARTING: "dequeued",
                }
                events = self.instance.get_records_for_run(run_id, of_type=set(wanted)).records
                times = {
                    wanted[event.event_log_entry.dagster_event.event_type]: event.timestamp
                    for event in events
                    if event.event_log_entry.dagster_event is not None
                }
                tick_id = records[0].dagster_run.tags.get(TICK_ID_TAG)
                storage = self.instance.schedule_storage
                if tick_id is not None and storage is not None:  # the sensor tick that made it
                    times["ticked"] = storage.get_tick(int(tick_id)).timestamp
                return {**times, "started": records[0].start_time}
            time.sleep(POLL_S)
        raise RuntimeError(f"the run of job {job_id} did not start in {RUN_START_DEADLINE_S} s")

    def runs(self) -> dict[str, Any]:
        """Webhook jobs and their runs: counts, statuses, and whether any overlapped."""
        from dagster import DagsterRunStatus, RunsFilter
        from sqlalchemy import select

        from resources.run_tags import JOB_TAG, SOURCE_TAG, TRIGGER_TAG
        from resources.store.models import SyncJob

        with self.store.session() as session:
            job_ids = set(session.scalars(select(SyncJob.id).where(SyncJob.trigger == "webhook")))
        records = self.instance.get_run_records(RunsFilter(tags={TRIGGER_TAG: "webhook"}))
        per_job = [record.dagster_run.tags.get(JOB_TAG) for record in records]
        spans: dict[str, list[tuple[float, float]]] = {}
        for record in records:
            if record.start_time is not None:  # a run still running ends at infinity
                source = record.dagster_run.tags.get(SOURCE_TAG, "")
                spans.setdefault(source, []).append(
                    (record.start_time, record.end_time or float("inf"))
                )
        overlaps = sum(
            later[0] < earlier[1]
            for runs in spans.values()
            for earlier, later in itertools.pairwise(sorted(runs))
        )
        statuses = [record.dagster_run.status for record in records]
        return {
            "jobs": len(job_ids),
            "runs": len(records),
            "jobsWithOneRun": sum(per_job.count(job_id) == 1 for job_id in job_ids),
            "succeeded": statuses.count(DagsterRunStatus.SUCCESS),
            "failed": statuses.count(DagsterRunStatus.FAILURE),
            "overlapping": overlaps,
        }


def push_commit(source: BenchSource, *, name: str) -> tuple[str, str]:
    """Commit a new file to the source's repository and push it; the heads before and after."""
    before = _git(source.work, "rev-parse", "HEAD")
    (source.work / f"{name}.md").write_text(f"# {name}\n\nPushed by the benchmark.\n")
    _git(source.work, "add", ".")
    _git(source.work, "commit", "--quiet", "-m", name)
    _git(source.work, "push", "--quiet", "origin", "main")
    return before, _git(source.work, "rev-parse", "HEAD")


def probe(
    url: str, watch: Watch, sources: list[BenchSource], *, count: int
) -> list[dict[str, float]]:
    """Push a commit to an idle source, deliver it, and time its way to a running run."""
    rng = random.Random(0)
    delays = []
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        for n, source in zip(range(count), itertools.cycle(sources), strict=False):
            while watch.pending(source.source_id):
                time.sleep(POLL_S)
            time.sleep(rng.uniform(0, SENSOR_LOOP_S))  # anywhere in the sensor loop
            before, after = push_commit(source, name=f"probe{n}")
            body, headers = _push_delivery(source, before=before, after=after)
            answer = client.post("/webhooks/github", content=body, headers=headers)
            acked = time.time()
            answer.raise_for_status()
            times = watch.run_start(answer.json()["jobId"])
            delays.append({name: at - acked for name, at in times.items()})
    return delays


def delay_report(delays: list[dict[str, float]]) -> dict[str, Any]:
    """Median and p90 of delivery -> run start, and the median of each part of the way."""
    total = [delay["started"] for delay in delays]
    parts = {
        "sensor": [d["enqueued"] for d in delays if "enqueued" in d],
        # The sensor part, split: waiting for the tick that saw the job, then the tick itself
        # (the sensor's evaluation, the run's creation and its submission to the queue).
        "wait": [d["ticked"] for d in delays if "ticked" in d],
        "tick": [d["enqueued"] - d["ticked"] for d in delays if {"ticked", "enqueued"} <= d.keys()],
        "queue": [
            d["dequeued"] - d["enqueued"] for d in delays if {"enqueued", "dequeued"} <= d.keys()
        ],
        "launch": [d["started"] - d["dequeued"] for d in delays if "dequeued" in d],
    }
    return {
        "probes": len(delays),
        "median_s": round(statistics.median(total), 2),
        "p90_s": round(_percentile(total, 0.9), 2),
        "max_s": round(max(total), 2),
        "median_parts_s": {
            name: round(statistics.median(values), 2) for name, values in parts.items() if values
        },
    }


def memory(api_pid: int, processes: Dagster) -> dict[str, Any]:
    """Resident MiB of each API worker (uvicorn's spawned children, or uvicorn itself when it
    has none), of the daemon, and of the code server: its proxy and the server it runs (run
    workers come and go: left out)."""
    proxy = processes.code_server.pid
    servers = [pid for pid in children(proxy) if "grpc" in cmdline(pid)]
    return {
        "apiWorkersMiB": [rss_mib(pid) for pid in api_workers(api_pid)],
        "daemonMiB": rss_mib(processes.daemon.pid),
        "codeServerMiB": [rss_mib(pid) for pid in [proxy, *servers]],
    }


@contextmanager
def environment(
    tmp: Path, *, sources: int
) -> Iterator[tuple[Path, dict[str, str], list[BenchSource]]]:
    """A home with `sources` github sources served by a fake GitHub; its environment."""
    from resources.dagster_home import prepare_dagster_home
    from resources.settings import Settings

    home = tmp / "home"
    works = {f"repo{n}": _work_repository(tmp / "work" / f"repo{n}") for n in range(sources)}
    os.environ.pop("DAGSTER_HOME", None)  # this home's instance, not the caller's
    dagster_home = prepare_dagster_home(Settings(home=home, jwt_secret=SecretStr(SECRET)))
    env = headwater_env(
        home,
        HEADWATER_RATE_LIMIT_WEBHOOK=UNTHROTTLED,
        HEADWATER_RATE_LIMIT_DEFAULT=UNTHROTTLED,
        DAGSTER_HOME=str(dagster_home),
    )
    with fake_github(tmp / "served", list(works.items())) as api_url:
        yield home, env, seed(home, api_url=api_url, works=works)


def run(
    *, rate_per_min: float, seconds: float, workers: int, sources: int, probes: int
) -> dict[str, Any]:
    """Phase 1 (ingress, no daemon) and phase 2 (delivery to run start, daemon running)."""
    with (
        tempfile.TemporaryDirectory(
            prefix="headwater-bench-webhooks-", ignore_cleanup_errors=True
        ) as tmp,
        environment(Path(tmp), sources=sources) as (home, env, seeded),
        serve(home, workers=workers, env=env) as served,
    ):
        load_before = load()
        count = int(rate_per_min / MINUTE_S * seconds)
        ingress = asyncio.run(
            deliver(served.url, seeded, rate_per_s=rate_per_min / MINUTE_S, count=count)
        )
        watch = Watch(home)
        ingress_result = ingress_report(ingress, stored=watch.stored_deliveries())
        load_ingress = load()
        with dagster(env, home / "daemon.log") as processes:
            drained = watch.drain()
            cpu_before = processes.cpu_s()
            delays = probe(served.url, watch, seeded, count=probes)
            watch.drain()  # no run left writing in the home when it is removed
            daemon_cpu = processes.cpu_s() - cpu_before
        return {
            "rate_per_min": rate_per_min,
            "seconds": seconds,
            "workers": workers,
            "sources": sources,
            "load_before": load_before,
            "load_after_ingress": load_ingress,
            "load_after_probes": load(),
            "ingress": ingress_result,
            "drain_s": round(drained, 1),
            "delivery_to_run_start": delay_report(delays),
            "daemon_cpu_s_per_probe": round(daemon_cpu / max(len(delays), 1), 2),
        }


def soak(*, rate_per_min: float, minutes: int, workers: int, sources: int) -> dict[str, Any]:
    """N minutes of deliveries while their syncs run; a line a minute, and the totals."""
    with (
        tempfile.TemporaryDirectory(
            prefix="headwater-bench-soak-", ignore_cleanup_errors=True
        ) as tmp,
        environment(Path(tmp), sources=sources) as (home, env, seeded),
        serve(home, workers=workers, env=env) as served,
        dagster(env, home / "daemon.log") as processes,
    ):
        watch = Watch(home)
        watch.drain()
        minutes_report: list[dict[str, Any]] = []

        async def sample_each_minute() -> None:
            for minute in range(1, minutes + 1):
                await asyncio.sleep(MINUTE_S)
                for source in seeded:  # so the syncs the deliveries queue have work to do
                    await asyncio.to_thread(push_commit, source, name=f"minute{minute}")
                snapshot = {
                    "minute": minute,
                    "load": load(),
                    "stored": await asyncio.to_thread(watch.stored_deliveries),
                    **(await asyncio.to_thread(watch.runs)),
                    **memory(served.pid, processes),
                }
                minutes_report.append(snapshot)
                sys.stderr.write(json.dumps(snapshot) + "\n")

        async def offer_deliveries() -> Ingress:
            sampler = asyncio.create_task(sample_each_minute())
            ingress = await deliver(
                served.url,
                seeded,
                rate_per_s=rate_per_min / MINUTE_S,
                count=int(rate_per_min * minutes),
            )
            await sampler
            return ingress

        ingress = asyncio.run(offer_deliveries())
        for snapshot in minutes_report:
            due = [
                s
                for s in ingress.samples
                if (snapshot["minute"] - 1) * MINUTE_S <= s.due < snapshot["minute"] * MINUTE_S
            ]
            snapshot["accepted"] = sum(s.ok for s in due)
            snapshot["p99_ms"] = _ms(_percentile([s.latency for s in due], 0.99))
        drained = watch.drain()
        return {
            "rate_per_min": rate_per_min,
            "minutes": minutes,
            "workers": workers,
            "sources": sources,
            "ingress": ingress_report(ingress, stored=watch.stored_deliveries()),
            "drain_s": round(drained, 1),
            "runs": watch.runs(),
            "per_minute": minutes_report,
        }


def _mib(values: list[float]) -> str:
    return " + ".join(f"{value:.0f}" for value in values) or "-"


def _write_table(report: dict[str, Any]) -> None:
    ingress = report["ingress"]
    lines = [
        f"{report['sources']} github sources, {report['workers']} API worker(s), "
        f"{report['rate_per_min']:g} signed push deliveries a minute offered",
        f"ingress: {ingress['rps']} req/s, p50 {ingress['p50_ms']} ms, p99 {ingress['p99_ms']} ms, "
        f"max {ingress['max_ms']} ms; {ingress['accepted']} accepted, {ingress['stored']} stored, "
        f"{ingress['errors']} errors, {ingress['jobs']} jobs",
    ]
    if "delivery_to_run_start" in report:
        delay = report["delivery_to_run_start"]
        lines += [
            f"delivery -> run start ({delay['probes']} probes): median {delay['median_s']} s, "
            f"p90 {delay['p90_s']} s, max {delay['max_s']} s; "
            f"median parts {delay['median_parts_s']}",
            f"CPU of the daemon, its code server and run workers: "
            f"{report['daemon_cpu_s_per_probe']} s per probe (its sync included)",
            f"load average: before {report['load_before']}, after ingress "
            f"{report['load_after_ingress']}, after probes {report['load_after_probes']}",
        ]
    else:
        lines.append(f"runs: {report['runs']}")
        lines.append(
            f"{'minute':>6}{'accepted':>10}{'stored':>8}{'p99 ms':>9}{'jobs':>6}{'runs':>6}"
            f"  {'API workers MiB':<18}{'daemon MiB':>11}  {'code server MiB':<16}{'load':>6}"
        )
        for m in report["per_minute"]:
            lines.append(
                f"{m['minute']:>6}{m['accepted']:>10}{m['stored']:>8}{m['p99_ms']:>9}"
                f"{m['jobs']:>6}{m['runs']:>6}  {_mib(m['apiWorkersMiB']):<18}"
                f"{m['daemonMiB']:>11}  {_mib(m['codeServerMiB']):<16}{m['load'][0]:>6}"
            )
    sys.stdout.write("\n".join(lines) + "\n")


def main() -> None:
    """Command line: the summary, or the report as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000, help="Deliveries offered a minute.")
    parser.add_argument("--seconds", type=float, default=60, help="Ingress phase length.")
    parser.add_argument(
        "--workers", type=int, help="uvicorn worker processes (default 1; soak: 2)."
    )
    parser.add_argument("--sources", type=int, default=4, help="github sources (repositories).")
    parser.add_argument("--probes", type=int, default=20, help="Deliveries timed to run start.")
    parser.add_argument(
        "--minutes", type=int, default=0, help="Soak for N minutes instead (daemon running)."
    )
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    args = parser.parse_args()
    if args.minutes:
        report = soak(
            rate_per_min=args.rate,
            minutes=args.minutes,
            workers=args.workers or SOAK_WORKERS,
            sources=args.sources,
        )
    else:
        report = run(
            rate_per_min=args.rate,
            seconds=args.seconds,
            workers=args.workers or 1,
            sources=args.sources,
            probes=args.probes,
        )
    emit(report, as_json=args.json, table=_write_table)


if __name__ == "__main__":
    main()
