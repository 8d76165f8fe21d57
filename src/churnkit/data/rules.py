"""The load rules, declared once as data: what each input table's canonical columns are and when a row is set aside.

Both engines turn these declarations into their own queries (`churnkit.engines.duckdb_sql`: SQL;
`churnkit.engines.spark`: Spark columns); neither holds a reason text or a required-column message of its own.

* A `ColumnRule` names a canonical column, its kind (how it is parsed) and whether the source must have it.
* A `Check` names a canonical column, a test (``blank`` source value, ``unparsed``: the parsed value is null,
  ``range``: a timestamp outside `TIMESTAMP_RANGE`) and the reason a failing row is given. A row gets the reason
  of the first check it fails, in the declared order.
* `TableRules.unique` is the last check: a second row for the same key is set aside (customers stay keyed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from churnkit.config import TableInput
from churnkit.data.schema import TIMESTAMP_RANGE
from churnkit.errors import InputError

Kind = Literal["text", "timestamp", "date", "amount", "number", "order_id", "return_flag", "event_type"]
"""How a canonical column is made: ``text`` (trimmed, blank → null), ``timestamp`` (naive UTC; an offset converted,
a wall clock read in the table's time zone), ``date`` (a timestamp's day), ``amount`` / ``number`` (a finite
double), ``order_id`` (text, or ``row-<n>`` when missing), ``return_flag`` (derived: negative amount or quantity,
or a cancelled order id) and ``event_type`` (lower case, mapped to the vocabulary; others count as page_view)."""

Test = Literal["blank", "unparsed", "range", "duplicate"]


@dataclass(frozen=True)
class ColumnRule:
    name: str
    kind: Kind
    required: bool = False


@dataclass(frozen=True)
class Check:
    column: str
    test: Test
    reason: str


@dataclass(frozen=True)
class TableRules:
    """One table: its canonical columns in output order, its checks in the order they run."""

    name: str
    columns: tuple[ColumnRule, ...]
    checks: tuple[Check, ...]
    unique: Check | None = None
    keep_other_columns: bool = False
    """Customers keep their source attributes (country, acquisition channel, ...) as they are."""
    read_untrimmed: tuple[str, ...] = ()
    """Text columns every feature query reads: where the table stays in its file, a column whose values
    need no trimming is read as it is (one check while loading instead of a trim on every read)."""

    def column(self, name: str) -> ColumnRule | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def reasons(self) -> list[str]:
        """Every reason a row of this table can get from its checks, in order."""
        return [c.reason for c in self.checks] + ([self.unique.reason] if self.unique else [])


OUT_OF_RANGE = f"timestamp out of range (before {TIMESTAMP_RANGE[0]} or from {TIMESTAMP_RANGE[1]})"

# A CSV line that is not a record of the table (set aside as it is read, before any column check).
TOO_MANY_FIELDS = "too many fields"
TOO_FEW_FIELDS = "too few fields"
UNBALANCED_QUOTE = "unbalanced quote"
LINE_TOO_LONG = "line too long"
MALFORMED_LINE = "malformed line"
"""Any other reason a CSV reader gives for a line it cannot split."""


def not_text_reason(encoding: str | None) -> str:
    """The reason given to a line with bytes that are not text in the file's encoding."""
    return f"not {encoding or 'UTF-8'} text"


_ID = ColumnRule("customer_id", "text", required=True)
_TS = ColumnRule("timestamp", "timestamp", required=True)
_ID_CHECK = Check("customer_id", "unparsed", "missing customer_id")
_TS_CHECKS = (
    Check("timestamp", "blank", "missing timestamp"),
    Check("timestamp", "unparsed", "unparseable timestamp"),
    Check("timestamp", "range", OUT_OF_RANGE),
)

TRANSACTIONS = TableRules(
    "transactions",
    columns=(
        _ID,
        _TS,
        ColumnRule("order_id", "order_id"),
        ColumnRule("amount", "amount", required=True),
        ColumnRule("is_return", "return_flag"),
        ColumnRule("quantity", "number"),
        ColumnRule("channel", "text"),
        ColumnRule("product_id", "text"),
    ),
    checks=(
        _ID_CHECK,
        *_TS_CHECKS,
        Check("amount", "blank", "missing amount"),
        Check("amount", "unparsed", "non-numeric amount"),
    ),
)
AMOUNT_FROM_CHECKS = (
    Check("quantity", "unparsed", "non-numeric quantity"),
    Check("unit_price", "unparsed", "non-numeric unit price"),
)
"""With ``amount_from`` (amount = quantity × unit price) these replace the amount checks."""
AMOUNT_FROM_ROLE = "for amount = quantity × unit price"

EVENTS = TableRules(
    "events",
    columns=(
        _ID,
        _TS,
        ColumnRule("event_type", "event_type", required=True),
        ColumnRule("session_id", "text"),
        ColumnRule("channel", "text"),
        ColumnRule("device", "text"),
        ColumnRule("product_id", "text"),
    ),
    checks=(_ID_CHECK, *_TS_CHECKS, Check("event_type", "unparsed", "missing event_type")),
    read_untrimmed=("customer_id", "event_type", "session_id"),
)
CUSTOMERS = TableRules(
    "customers",
    columns=(_ID, ColumnRule("signup_date", "date")),
    checks=(_ID_CHECK,),
    unique=Check("customer_id", "duplicate", "duplicate customer_id"),
    keep_other_columns=True,
)
RULES: dict[str, TableRules] = {r.name: r for r in (TRANSACTIONS, EVENTS, CUSTOMERS)}


def table_rules(name: str, spec: TableInput) -> TableRules:
    """The rules of one table as its config reads it (``amount_from`` swaps the amount checks)."""
    rules = RULES[name]
    if name != "transactions" or spec.amount_from is None:
        return rules
    checks = [c for c in rules.checks if c.column != "amount"]
    return replace(rules, checks=(*checks, *AMOUNT_FROM_CHECKS))


def find_column(columns: list[str] | dict[str, object], wanted: str) -> str | None:
    """The source column called ``wanted`` (exactly, else ignoring case, as SQL engines compare names)."""
    if wanted in columns:
        return wanted
    lower = {c.lower(): c for c in columns}
    return lower.get(wanted.lower())


def missing_column(label: str, wanted: str, role: str, present: list[str], column: str) -> InputError:
    """A source column needed for a purpose (``role``) is not in the file."""
    return InputError(
        f"{label}: column '{wanted}' ({role}) not found; columns present: {', '.join(present)}",
        path=label,
        column=column,
    )


def source_columns(rules: TableRules, spec: TableInput, present: list[str], label: str) -> dict[str, str]:
    """Canonical column → source column, for the columns the source has; a missing required one stops the load.

    With ``amount_from``, ``quantity`` and ``unit_price`` are the configured source columns, and ``amount``
    is not read (it is their product).
    """
    found: dict[str, str] = {}
    needed = [c.name for c in rules.columns if c.required]
    derive = spec.amount_from if rules.name == "transactions" else None
    if derive is not None:
        needed.remove("amount")
        for canonical, part in (("quantity", derive.quantity), ("unit_price", derive.unit_price)):
            src = find_column(present, part)
            if src is None:
                raise missing_column(label, part, AMOUNT_FROM_ROLE, present, part)
            found[canonical] = src
    for canonical in needed:
        wanted = spec.columns.get(canonical, canonical)
        src = find_column(present, wanted)
        if src is None:
            mapped = f" (mapped from source column '{wanted}')" if wanted != canonical else ""
            raise InputError(
                f"{label}: required column '{canonical}'{mapped} not found; columns present: {', '.join(present)}. "
                f"Map it under inputs.{rules.name}.columns in the config.",
                path=label,
                column=canonical,
            )
        found[canonical] = src
    for rule in rules.columns:
        if rule.name in found or rule.kind == "return_flag" or (derive is not None and rule.name == "amount"):
            continue
        src = find_column(present, spec.columns.get(rule.name, rule.name))
        if src is not None:
            found[rule.name] = src
    return found


def other_columns(rules: TableRules, spec: TableInput, present: list[str], used: dict[str, str]) -> list[str]:
    """The source columns a table keeps as they are (customers' attributes): not mapped, not used."""
    if not rules.keep_other_columns:
        return []
    taken = set(used.values()) | set(spec.columns.values())
    return [c for c in present if c not in taken]


def no_rows_error(label: str, name: str) -> InputError:
    return InputError(f"{label}: the {name} table has no data rows (only a header?)", path=label)


def no_usable_rows_error(label: str, name: str, rejected: dict[str, int], where: str = "") -> InputError:
    reasons = ", ".join(f"{n:,} {r}" for r, n in sorted(rejected.items()))
    return InputError(f"{label}: no usable rows in the {name} table: {reasons}{where}", path=label)


def all_malformed_error(label: str, name: str, malformed: dict[str, int], where: str = "") -> InputError:
    reasons = ", ".join(f"{n:,} {r}" for r, n in sorted(malformed.items()))
    return InputError(
        f"{label}: no usable rows in the {name} table: every line is malformed ({reasons}){where}", path=label
    )


def not_text_error(label: str, name: str, encoding: str | None) -> InputError:
    """The error for a CSV file that does not decode in its configured encoding."""
    return InputError(
        f"{label}: the file is not {encoding or 'UTF-8'} text; set inputs.{name}.encoding "
        "(e.g. latin-1 or cp1252) in the config",
        path=label,
    )
