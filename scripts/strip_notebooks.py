"""Strip outputs, execution counts and run metadata from notebooks (what nbstripout does), in place.

    .venv/bin/python scripts/strip_notebooks.py                 # every notebooks/*.ipynb
    .venv/bin/python scripts/strip_notebooks.py a.ipynb ...     # these files
    .venv/bin/python scripts/strip_notebooks.py --check         # exit 1 if any file would change

Keeps the cells, their ids and tags, and the notebook's kernelspec and language_info; drops everything a
run adds (outputs, execution counts, ``execution`` timings, ``collapsed``/``scrolled``, widget state).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
KEEP_NOTEBOOK_METADATA = ("kernelspec", "language_info")
DROP_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime", "jupyter")


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in DROP_CELL_METADATA:
            cell.metadata.pop(key, None)
    nb.metadata = nbformat.NotebookNode(
        {k: nb.metadata[k] for k in KEEP_NOTEBOOK_METADATA if k in nb.metadata}
    )
    if "language_info" in nb.metadata:  # the kernel adds its version details; keep only the language
        nb.metadata["language_info"] = nbformat.NotebookNode({"name": nb.metadata["language_info"]["name"]})
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a file needs stripping"
    )
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        nb = strip(nbformat.reads(text, as_version=4))
        clean = nbformat.writes(nb) + "\n"
        if clean == text:
            continue
        dirty.append(path)
        if not args.check:
            path.write_text(clean, encoding="utf-8")
            print(f"stripped {path}")
    if args.check and dirty:
        print("needs stripping: " + ", ".join(map(str, dirty)))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
