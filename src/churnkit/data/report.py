"""What happened to each input table on the way in: one report type for every engine."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TableReport:
    """What happened to one input table on the way in."""

    table: str
    source: str
    rows_read: int = 0
    rows_loaded: int = 0
    duplicates_dropped: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    returns: int = 0
    unknown_event_types: int = 0
    unknown_event_names: dict[str, int] = field(default_factory=dict)
    """The most frequent unknown event names (trimmed, lower case: matching ignores case) with their counts."""
    rejected_file: str | None = None

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())


@dataclass
class LoadReport:
    tables: dict[str, TableReport] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return sum(t.rows_rejected for t in self.tables.values())

    def lines(self) -> list[str]:
        """One plain-language line per table, for the CLI and the run's data summary."""
        out = []
        for t in self.tables.values():
            parts = [f"{t.table}: {t.rows_loaded:,} rows loaded from {t.source}"]
            if t.duplicates_dropped:
                parts.append(f"{t.duplicates_dropped:,} exact duplicates dropped")
            if t.rejected:
                reasons = ", ".join(f"{n:,} {r}" for r, n in sorted(t.rejected.items()))
                parts.append(
                    f"{t.rows_rejected:,} rows set aside ({reasons}) → {t.rejected_file or 'not written'}"
                )
            else:
                parts.append("0 rows set aside")
            if t.returns:
                parts.append(f"{t.returns:,} returns")
            if t.unknown_event_types:
                names = ", ".join(f"{k!r} {n:,}" for k, n in t.unknown_event_names.items())
                top = f" (most frequent: {names}; map them under inputs.events.event_types)" if names else ""
                parts.append(f"{t.unknown_event_types:,} unknown event types counted as page_view{top}")
            out.append("; ".join(parts))
        return out
