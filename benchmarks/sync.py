"""Measure a full and an incremental sync of a local source over the CPython standard library.

    python -m benchmarks.sync [--corpus PATH] [--repeat 3] [--json]

Each sync runs in a fresh process (so its peak memory is its own) as an in-process Dagster
run, exactly like `headwater sync` without a daemon. Reported: the fixed cost of a run that
does nothing, full sync files/s and MB/s, each stage's time, the incremental resync of three
files, peak memory, reading+hashing MB/s, and the chunker side by side with its peers.

Every time is given as wall-clock and as CPU seconds of the syncing process (all its
threads). On a machine shared with other work the wall times stretch with the load (printed
before and after), the CPU times much less, so the shares are computed both ways.
"Embedding" is the time spent inside the embedder itself; reading chunks and writing
vectors count with everything else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import chunkers

IGNORED = shutil.ignore_patterns("__pycache__", "site-packages", "*.pyc")
STAGES = ("raw_files", "documents", "chunks", "embeddings")


def _sync_in_child(home: str, source_id: str, full: bool, queue: Any) -> None:
    os.environ["HEADWATER_HOME"] = home
    from dagster import AssetKey

    from cli.runner import run_in_process
    from resources.dagster_home import dagster_instance
    from resources.metadata import MetadataStore
    from resources.settings import get_settings
    from resources.store import jobs, sources
    from resources.store.models import SyncType

    settings = get_settings()
    store = MetadataStore(database_url=settings.resolved_database_url)
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None
        job_id = jobs.create_job(
            session,
            source=source,
            type=SyncType.FULL if full else SyncType.INCREMENTAL,
            trigger="benchmark",
        ).id
    instance = dagster_instance(settings)
    started, cpu = time.perf_counter(), time.process_time()
    run_in_process(settings=settings, instance=instance, store=store, job_id=job_id)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    with store.session() as session:
        job = jobs.get_job(session, job_id)
        assert job is not None
        status, stats, error = job.status.value, dict(job.stats), job.error
    stages: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        event = instance.get_latest_materialization_event(AssetKey(stage))
        materialization = event.asset_materialization if event else None
        meta = materialization.metadata if materialization else {}
        stages[stage] = {key: getattr(value, "value", value) for key, value in meta.items()}
    queue.put(
        {
            "wall_s": wall,
            "cpu_s": cpu,
            "status": status,
            "error": error,
            "stats": stats,
            "stages": stages,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def _sync(home: Path, source_id: str, *, full: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_sync_in_child, args=(str(home), source_id, full, queue))
    child.start()
    result: dict[str, Any] = queue.get()
    child.join()
    if result["status"] != "completed":
        raise RuntimeError(f"sync failed: {result['error']}")
    return result


def _add_source(home: Path, folder: Path) -> str:
    os.environ["HEADWATER_HOME"] = str(home)
    from resources.metadata import MetadataStore
    from resources.settings import get_settings
    from resources.store import sources

    get_settings.cache_clear()
    store = MetadataStore(database_url=get_settings().resolved_database_url)
    with store.session() as session:
        return sources.create_source(
            session,
            owner_id="bench",
            tenant_id=None,
            type="local",
            name=folder.name,
            config={"path": str(folder)},
        ).id


def _read_and_hash(folder: Path) -> tuple[float, int]:
    started = time.perf_counter()
    total = 0
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hashlib.sha256(data).digest()
            total += len(data)
    return total / 1e6 / (time.perf_counter() - started), total


def _edit_three_files(folder: Path) -> None:
    (folder / "json/__init__.py").write_text(
        (folder / "json/__init__.py").read_text() + "\n\ndef added_by_benchmark():\n    return 1\n"
    )
    (folder / "colorsys.py").unlink()
    (folder / "benchmark_new.py").write_text("def fresh():\n    return 'new file'\n")


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole > 0 else float("nan")


def _stage_times(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {
        stage: {"wall_s": meta["duration_s"], "cpu_s": meta["cpu_s"]}
        for stage, meta in result["stages"].items()
    }


def run(corpus: Path, *, repeat: int = 3) -> dict[str, Any]:
    """All measurements, as a dict."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="headwater-bench-") as tmp:
        root = Path(tmp)
        folder = root / "corpus"
        shutil.copytree(corpus, folder, ignore=IGNORED, symlinks=True)
        empty = root / "empty"
        empty.mkdir()
        home = root / "home"
        read_mb_s, corpus_bytes = _read_and_hash(folder)
        noop = _sync(home, _add_source(home, empty), full=True)
        source_id = _add_source(home, folder)
        full = _sync(home, source_id, full=True)
        _edit_three_files(folder)
        incremental = _sync(home, source_id, full=False)
    embedding = full["stages"]["embeddings"]
    embed_wall, embed_cpu = embedding["embedder_s"], embedding["embedder_cpu_s"]
    fetched_mb = full["stages"]["raw_files"]["bytes_fetched"] / 1e6
    report: dict[str, Any] = {
        "corpus": str(corpus),
        "corpus_mb": round(corpus_bytes / 1e6, 1),
        "read_and_hash_mb_s": round(read_mb_s, 1),
        "fixed_run_cost": {"wall_s": round(noop["wall_s"], 2), "cpu_s": round(noop["cpu_s"], 2)},
        "full": {
            "wall_s": round(full["wall_s"], 2),
            "cpu_s": round(full["cpu_s"], 2),
            "files": full["stages"]["raw_files"]["files"],
            "files_per_s": round(full["stages"]["raw_files"]["files"] / full["wall_s"], 1),
            "mb_per_s": round(fetched_mb / full["wall_s"], 2),
            "stages": _stage_times(full),
            "chunks": full["stages"]["chunks"]["chunks"],
            "embedder": {"wall_s": embed_wall, "cpu_s": embed_cpu},
            "embedder_mb_s": round(full["stages"]["documents"]["text_bytes"] / 1e6 / embed_wall, 2),
            "non_embedding_share_of_embedding": {
                "wall": _share(full["wall_s"] - embed_wall, embed_wall),
                "cpu": _share(full["cpu_s"] - embed_cpu, embed_cpu),
            },
            "peak_rss_mb": round(full["peak_rss_mb"]),
        },
        "incremental": {
            "wall_s": round(incremental["wall_s"], 2),
            "cpu_s": round(incremental["cpu_s"], 2),
            "stages": _stage_times(incremental),
            "stats": incremental["stats"],
            "share_of_full_less_fixed": {
                "wall": _share(
                    incremental["wall_s"] - noop["wall_s"], full["wall_s"] - noop["wall_s"]
                ),
                "cpu": _share(incremental["cpu_s"] - noop["cpu_s"], full["cpu_s"] - noop["cpu_s"]),
            },
            "peak_rss_mb": round(incremental["peak_rss_mb"]),
        },
        "chunkers": chunkers.run(corpus, repeat=repeat),
    }
    report["load_average"] = {"before": load_before[0], "after": os.getloadavg()[0]}
    return report


def _print(report: dict[str, Any]) -> None:
    full, inc, fixed = report["full"], report["incremental"], report["fixed_run_cost"]
    load = report["load_average"]

    def times(pair: dict[str, float]) -> str:
        return f"{pair['wall_s']} s wall, {pair['cpu_s']} s CPU"

    def shares(pair: dict[str, float]) -> str:
        return f"{pair['wall']:.1%} by wall time, {pair['cpu']:.1%} by CPU time"

    lines = [
        f"corpus                     {report['corpus']} ({report['corpus_mb']} MB)",
        f"load average               {load['before']:.1f} before, {load['after']:.1f} after "
        f"({os.cpu_count()} cores)",
        f"read + sha256              {report['read_and_hash_mb_s']} MB/s",
        f"fixed cost of a no-op run  {times(fixed)}",
        f"full sync                  {times(full)}, {full['files']} files, "
        f"{full['files_per_s']} files/s, {full['mb_per_s']} MB/s, {full['chunks']} chunks",
        *(f"  {stage:<24} {times(pair)}" for stage, pair in full["stages"].items()),
        f"  embedder alone           {times(full['embedder'])}, "
        f"{full['embedder_mb_s']} MB/s of text",
        f"  all but embedding        {shares(full['non_embedding_share_of_embedding'])} "
        "of the embedding time (target < 25%)",
        f"  peak memory              {full['peak_rss_mb']} MB (target < 1024)",
        f"incremental (3 files)      {times(inc)}",
        f"  share of the full sync   {shares(inc['share_of_full_less_fixed'])}, "
        "fixed cost excluded (target < 5%)",
        *(f"  {stage:<24} {times(pair)}" for stage, pair in inc["stages"].items()),
        f"  stats                    {json.dumps(inc['stats'])}",
        f"  peak memory              {inc['peak_rss_mb']} MB",
    ]
    sys.stdout.write("\n".join(lines) + "\n\n")
    chunkers.print_table(report["chunkers"])


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument(
        "--repeat", type=int, default=3, help="Timed passes of each chunker; the best counts."
    )
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    args = parser.parse_args()
    report = run(args.corpus, repeat=args.repeat)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        _print(report)


if __name__ == "__main__":
    main()
