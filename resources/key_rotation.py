"""Re-encrypt every secret in the metadata store under the first encryption key.

Run after putting a new key first in `HEADWATER_ENCRYPTION_KEYS`; once it finishes, the
old keys can be dropped from the variable. Rows are rewritten in batches, each batch in
its own transaction, so a large store never holds one long lock, and running it again is
harmless (a secret already under the first key is simply encrypted afresh).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from resources.store.engine import transaction
from resources.store.models import Connection, OAuthState, PushChannel, Source
from resources.vault import Vault, VaultError

BATCH_ROWS = 500

# Every JSON column that may hold sealed secrets, by table: the one list to extend when a
# model gains one.
SEALED_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = (
    Source.config,
    Source.webhook_secret,
    Connection.config,
    Connection.oauth,
    OAuthState.secret,
    PushChannel.token,
)


@dataclass
class RotationReport:
    """What a rotation did.

    Attributes:
        rows: Rows whose secrets were re-encrypted, by `table.column`.
        secrets: Secrets re-encrypted, by `table.column`.
        failed: `table.column:id` of rows holding a secret no key can open (left as they are).
    """

    rows: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def rotate_secrets(
    sessions: sessionmaker[Session],
    vault: Vault,
) -> RotationReport:
    """Re-encrypt the sealed secrets of every row under the vault's first key.

    Args:
        sessions: The metadata store's sessions.
        vault: The vault over the new key list (new key first, old ones after).
    """
    report = RotationReport()
    for column in SEALED_COLUMNS:
        name = f"{column.class_.__tablename__}.{column.key}"
        report.rows[name] = report.secrets[name] = 0
        after = ""
        while True:
            with transaction(sessions) as session:
                model = column.class_
                rows = session.scalars(
                    select(model).where(model.id > after).order_by(model.id).limit(BATCH_ROWS)
                ).all()
                for row in rows:
                    try:
                        value, count = vault.reseal(getattr(row, column.key))
                    except VaultError:
                        report.failed.append(f"{name}:{row.id}")
                        continue
                    if count:
                        setattr(row, column.key, value)
                        report.rows[name] += 1
                        report.secrets[name] += count
            if not rows:
                break
            after = rows[-1].id
    return report
