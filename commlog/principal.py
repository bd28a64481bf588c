"""Who is asking. Every read of lender-owned data takes a Principal and scopes by it in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OPS = "ops"  # platform operations: every lender; reads, and decides suppression removals
    LENDER_ADMIN = "lender_admin"  # exactly one lender


class ScopeError(Exception):
    """The principal asked for a lender it may not see."""


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    role: Role
    lender_id: int | None  # set for lender admins, None for ops

    @property
    def is_ops(self) -> bool:
        return self.role == Role.OPS

    def lender_scope(self, requested: int | None) -> int | None:
        """The lender a query may read. Lender admins: always their own; asking for another raises.
        Ops: the requested lender, or None for all lenders."""
        if self.is_ops:
            return requested
        if self.lender_id is None:
            raise ScopeError("lender admin without a lender")
        if requested is not None and requested != self.lender_id:
            raise ScopeError("that lender is outside your access")
        return self.lender_id

    def require_lender(self, requested: int | None) -> int:
        lender = self.lender_scope(requested)
        if lender is None:
            raise ScopeError("choose a lender")
        return lender
