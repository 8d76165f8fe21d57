"""Compare two folders written by scripts/cli_snapshot.sh: the files a user gets, row order and run ids aside.

    python scripts/compare_cli_snapshots.py BEFORE AFTER

CSV files are compared as sorted rows (DuckDB does not promise row order); text outputs after masking the
folder, MLflow run/model ids and durations. Prints one line per file and exits 1 if any differ.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SKIP = re.compile(r"(mlflow\.db|demo\.db|mlruns/|models/|logs/|\.png$|\.joblib$|report\.html$|MLmodel$)")
ID = re.compile(r"\b(m-)?[0-9a-f]{32}\b")
TIME = re.compile(r"\b\d+(\.\d+)?\s?(s|ms|min)\b|\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?")


def normalised(path: Path, root: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace").replace(str(root), "<root>")
    lines = [" ".join(TIME.sub("<t>", ID.sub("<id>", line)).split()) for line in text.splitlines()]
    if path.suffix == ".csv":
        return lines[:1] + sorted(lines[1:])
    return lines


def main(before: Path, after: Path) -> int:
    names = sorted(
        {p.relative_to(before).as_posix() for p in before.rglob("*") if p.is_file()}
        | {p.relative_to(after).as_posix() for p in after.rglob("*") if p.is_file()}
    )
    bad = 0
    for name in names:
        if SKIP.search(name):
            continue
        a, b = before / name, after / name
        if not (a.is_file() and b.is_file()):
            print(f"only in {'before' if a.is_file() else 'after'}: {name}")
            bad += 1
            continue
        la, lb = normalised(a, before), normalised(b, after)
        if la == lb:
            print(f"same  {name} ({len(la)} lines)")
        else:
            diff = next(i for i, (x, y) in enumerate(zip([*la, ""], [*lb, ""], strict=False)) if x != y)
            print(
                f"DIFF  {name}: line {diff + 1}\n  before: {la[diff][:160] if diff < len(la) else '<end>'}"
                f"\n  after:  {lb[diff][:160] if diff < len(lb) else '<end>'}"
            )
            bad += 1
    print(f"{bad} file(s) differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
