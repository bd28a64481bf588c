"""`bench`: speed targets (placeholder, being written)."""

from __future__ import annotations


def register(subparsers) -> None:  # noqa: ANN001
    p = subparsers.add_parser("bench", help="run the benchmarks")
    p.set_defaults(func=lambda args: 0)
