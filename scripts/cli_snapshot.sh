#!/usr/bin/env bash
# Run every command on the sample shop and keep what a user gets (files + stdout), to compare two versions
# of the code file by file:  scripts/cli_snapshot.sh OUT_DIR [PYTHONPATH_SRC]
# Run ids, timings and absolute paths differ between runs by nature; `diff -r` the two OUT_DIRs and read the rest.
set -euo pipefail
OUT=$(realpath -m "$1"); SRC=${2:-}
BIN=${CHURNKIT_BIN:-$(realpath "$(dirname "$0")/..")/.venv/bin/churnkit}
export PYTHONPATH=$SRC MLFLOW_TRACKING_URI=sqlite:///$OUT/mlflow.db
rm -rf "$OUT"; mkdir -p "$OUT/shop" "$OUT/out"
ck() { "$BIN" "$@" 2>&1 | sed -E 's/[0-9]+(\.[0-9]+)? ?s\b/<t>/g' ; }
cd "$OUT"
ck generate shop -n 1500 --seed 3 > out/generate.txt
T=(-t shop/transactions.csv -e shop/events.csv --customers shop/customers.csv)
ck validate "${T[@]}" --as-of 2025-10-01 --rejected-dir out/rejected > out/validate.txt || true
ck kpis -t shop/transactions.csv -o out/kpis.csv > out/kpis.txt
ck features "${T[@]}" --as-of 2025-10-01 --horizon 90 -o out/features.csv > out/features.txt
ck train "${T[@]}" --as-of 2025-10-01 --tracking-uri sqlite:///$OUT/mlflow.db --json > out/train.json
ck score "${T[@]}" --as-of 2025-10-01 -m models:/churnkit@champion --tracking-uri sqlite:///$OUT/mlflow.db -o out/scores.csv > out/score.txt
ck segment "${T[@]}" --as-of 2025-10-01 --compare-to 2025-07-01 -o out/segments.csv > out/segment.txt
ck demo --out-dir demo -n 600 --seed 1 --tracking-uri sqlite:///$OUT/demo.db > out/demo.txt
