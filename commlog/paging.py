"""One page of a list the database pages through (the log, a search, the audit trail)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int  # rows in the whole list (exact, or the database's estimate: see `exact`)
    page: int  # 1-based, already clamped to the pages there are
    page_size: int
    exact: bool = True  # False: `total` is an estimate, above a count the list stopped at (log_queries.COUNT_LIMIT)

    @property
    def num_pages(self) -> int:
        return page_count(self.total, self.page_size)


def page_count(total: int, page_size: int) -> int:
    """Pages of `page_size` rows that `total` rows fill; an empty list still has its one page."""
    return max(1, -(-total // page_size))


def clamp(page: int, total: int, page_size: int) -> int:
    """A requested page number, kept within the pages there are."""
    return min(max(1, int(page)), page_count(total, page_size))
