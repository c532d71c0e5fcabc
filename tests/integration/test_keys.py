"""Secrets at rest: never in the database's bytes, and re-encrypted by `headwater keys rotate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from resources.key_rotation import rotate_secrets
from resources.metadata import MetadataStore
from resources.source_configs import opened_config, sealed_config, sealed_connection_config
from resources.store import connections, sources
from resources.store.engine import session_factory
from resources.store.owners import Owner
from resources.vault import Vault, VaultError

TOKEN = "ghp_" + "s3cr3t" * 6


def _github_source(store: MetadataStore, vault: Vault, token: str = TOKEN) -> str:
    config = sealed_config(vault, "github", {"owner": "acme", "repo": "api", "token": token})
    with store.session() as session:
        return sources.create_source(
            session, owner_id="alice", tenant_id=None, type="github", name="api", config=config
        ).id


def _opened_token(store: MetadataStore, vault: Vault, source_id: str) -> str:
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None
        return str(opened_config(vault, "github", source.config)["token"])


def test_rotation_moves_every_secret_to_the_first_key(store: MetadataStore, tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = Vault.open(old, home=tmp_path)
    ids = [_github_source(store, before, f"{TOKEN}{n}") for n in range(3)]
    with store.session() as session:  # a source without secrets is left alone
        sources.create_source(
            session, owner_id="alice", tenant_id=None, type="local", name="d", config={"path": "/"}
        )
        connection = connections.create_connection(
            session,
            owner=Owner("alice"),
            type="github",
            name="acme",
            description=None,
            config=sealed_connection_config(before, "github", {"token": TOKEN}),
            options={},
        )

    rotated = Vault.open(f"{new},{old}", home=tmp_path)
    report = rotate_secrets(session_factory(store.database_url), rotated)

    assert report.rows == {
        "sources.config": 3,
        "sources.webhook_secret": 0,
        "connections.config": 1,
        "connections.oauth": 0,
        "oauth_states.secret": 0,
        "push_channels.token": 0,
    }
    assert report.secrets == report.rows
    # The PostgreSQL database is shared by the session: only this test's rows are its concern.
    ours = {*ids, connection.id}
    assert not [failed for failed in report.failed if failed.rsplit(":", 1)[1] in ours]
    only_new = Vault.open(new, home=tmp_path)
    assert [_opened_token(store, only_new, i) for i in ids] == [f"{TOKEN}{n}" for n in range(3)]
    with pytest.raises(VaultError):
        _opened_token(store, before, ids[0])
    with store.session() as session:
        stored = connections.get_connection(session, connection.id, owner=Owner("alice"))
        assert stored is not None
        assert opened_config(only_new, "github", stored.config)["token"] == TOKEN
    with store.session() as session:
        stored = " ".join(str(row) for row in session.execute(text("SELECT config FROM sources")))
    assert TOKEN not in stored


def _headwater(home: Path, keys: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEADWATER_HOME": str(home), "HEADWATER_ENCRYPTION_KEYS": keys}
    env.pop("DAGSTER_HOME", None)
    env.pop("HEADWATER_DATABASE_URL", None)
    return subprocess.run(
        [str(Path(sys.executable).parent / "headwater"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_keys_rotate_command_reports_and_flags_undecryptable_rows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = MetadataStore(database_url=f"sqlite:///{home / 'headwater.db'}")
    generated = _headwater(home, "", "keys", "generate")
    assert generated.returncode == 0
    old = generated.stdout.strip()
    new, lost = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    kept = _github_source(store, Vault.open(old, home=home))
    orphan = _github_source(store, Vault.open(lost, home=home), token=TOKEN + "-orphan")
    raw = (home / "headwater.db").read_bytes()
    assert TOKEN.encode() not in raw and b"s3cr3t" not in raw

    result = _headwater(home, f"{new},{old}", "keys", "rotate", "--json")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["rows"] == {
        "sources.config": 1,
        "sources.webhook_secret": 0,
        "connections.config": 0,
        "connections.oauth": 0,
        "oauth_states.secret": 0,
        "push_channels.token": 0,
    }
    assert report["failed"] == [f"sources.config:{orphan}"]
    assert TOKEN not in result.stdout + result.stderr
    assert _opened_token(store, Vault.open(new, home=home), kept) == TOKEN
