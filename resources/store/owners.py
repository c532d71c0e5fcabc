"""Who a row belongs to: a user within a tenant, matched exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, and_

from resources.store.models import Connection, Source, SyncJob


class OwnedRow(Protocol):
    """A loaded row with an owner and a tenant."""

    @property
    def owner_id(self) -> str: ...

    @property
    def tenant_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Owner:
    """A user (the JWT `sub`) within a tenant (its `tenant` claim, None for none).

    Matching is exact on both: the same user name in another tenant is somebody else,
    and a token without a tenant sees only rows created without one.
    """

    user_id: str
    tenant_id: str | None = None

    def owns(self, row: OwnedRow) -> bool:
        """Whether `row` belongs to this owner."""
        return row.owner_id == self.user_id and row.tenant_id == self.tenant_id

    def clause(self, model: type[Source] | type[SyncJob] | type[Connection]) -> ColumnElement[bool]:
        """A WHERE clause selecting this owner's rows of `model`."""
        if self.tenant_id is None:
            return and_(model.owner_id == self.user_id, model.tenant_id.is_(None))
        return and_(model.owner_id == self.user_id, model.tenant_id == self.tenant_id)
