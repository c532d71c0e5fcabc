"""Which buckets of a stage must be rebuilt, and which carry over from its last version."""

from __future__ import annotations

from dataclasses import dataclass

from resources.lake import LakeVersion


@dataclass(frozen=True, slots=True)
class BucketPlan:
    """Buckets to rebuild (`dirty`) and to inherit unchanged (`clean`)."""

    dirty: frozenset[str]
    clean: frozenset[str]
    input: dict[str, list[str]]  # upstream parts per bucket: recorded with the new version


def plan_buckets(*, upstream: LakeVersion, previous: LakeVersion | None, reuse: bool) -> BucketPlan:
    """A bucket is clean when the previous version was built from the very same upstream parts.

    Comparing parts rather than trusting a change list keeps this right after failed runs,
    backfills of one stage, or several upstream runs in a row.
    """
    current = upstream.bucket_files()
    if not reuse or previous is None:
        return BucketPlan(dirty=frozenset(current), clean=frozenset(), input=current)
    built_from: dict[str, list[str]] = previous.meta.get("input", {})
    clean = frozenset(b for b, parts in current.items() if built_from.get(b) == parts)
    gone = set(previous.bucket_files()) - set(current)
    return BucketPlan(dirty=frozenset(set(current) - clean | gone), clean=clean, input=current)
