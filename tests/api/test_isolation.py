"""A user never reads, lists, changes, syncs, deletes or sees the jobs of another user's
source."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import ApiServer, create_local_source, notes_folder


def test_another_users_sources_and_jobs_are_invisible(api: ApiServer, tmp_path: Path) -> None:
    alice, bob = api.client(), api.client()
    created = create_local_source(alice, notes_folder(tmp_path / "notes"))
    source, job = created["source"], created["syncJob"]
    assert isinstance(source, dict) and isinstance(job, dict)
    source_id, job_id = source["id"], job["id"]

    assert bob.get("/sources").json() == {"sources": [], "total": 0}
    assert bob.get("/jobs").json() == {"jobs": [], "total": 0}
    assert bob.get("/jobs", params={"sourceId": source_id}).json() == {"jobs": [], "total": 0}
    attempts = [
        bob.get(f"/sources/{source_id}"),
        bob.get(f"/sources/{source_id}/files"),
        bob.patch(f"/sources/{source_id}", json={"name": "bob's now"}),
        bob.post(f"/sources/{source_id}/sync", json={"type": "full"}),
        bob.delete(f"/sources/{source_id}"),
    ]
    for response in attempts:
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "SOURCE_NOT_FOUND"
        assert str(tmp_path) not in response.text  # nothing of the source leaks
    for response in (bob.get(f"/jobs/{job_id}"), bob.post(f"/jobs/{job_id}/cancel")):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "JOB_NOT_FOUND"

    # Alice still has everything, untouched by Bob's attempts.
    kept = alice.get(f"/sources/{source_id}").json()
    assert kept["config"] == {"path": str(tmp_path / "notes")} and kept["name"] == source["name"]
    mine = alice.get("/jobs", params={"sourceId": source_id}).json()
    assert mine["total"] == 1 and mine["jobs"][0]["status"] == "queued"
    assert mine["jobs"][0]["type"] == "full"


def test_a_tenant_sees_only_its_own_sources(api: ApiServer, tmp_path: Path) -> None:
    """The same user name in two workspaces is two owners; no tenant is a third."""
    acme, globex, plain = (api.client("carol", tenant=t) for t in ("acme", "globex", None))
    created = create_local_source(acme, notes_folder(tmp_path / "notes"))
    source, job = created["source"], created["syncJob"]
    assert isinstance(source, dict) and isinstance(job, dict)
    for other in (globex, plain):
        assert other.get("/sources").json() == {"sources": [], "total": 0}
        assert other.get("/jobs").json() == {"jobs": [], "total": 0}
        assert other.get(f"/sources/{source['id']}").status_code == 404
        assert other.get(f"/jobs/{job['id']}").status_code == 404
    assert [s["id"] for s in acme.get("/sources").json()["sources"]] == [source["id"]]
    assert acme.get(f"/jobs/{job['id']}").status_code == 200


def test_cancel_a_queued_job_and_a_finished_one(api: ApiServer, tmp_path: Path) -> None:
    client = api.client()
    created = create_local_source(client, notes_folder(tmp_path / "notes"))
    job = created["syncJob"]
    source = created["source"]
    assert isinstance(job, dict) and isinstance(source, dict)
    cancelled = client.post(f"/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"
    assert client.get(f"/sources/{source['id']}").json()["status"] == "pending"
    # With the first job cancelled, a sync queues a new one; a second sync joins it.
    first = client.post(f"/sources/{source['id']}/sync").json()["job"]
    second = client.post(f"/sources/{source['id']}/sync", json={"type": "full"}).json()["job"]
    assert first["id"] != job["id"] and second["id"] == first["id"]
    assert second["type"] == "full" and second["estimatedDuration"] is None
    listed = client.get("/jobs", params={"status": "cancelled"}).json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
