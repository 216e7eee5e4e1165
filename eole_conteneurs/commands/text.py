"""Plain-text output shared by the commands."""

from __future__ import annotations

from typing import Sequence


def table(rows: Sequence[tuple[str, ...]]) -> str:
    """Columns aligned, a rule under the header row."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
