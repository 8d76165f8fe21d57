# Two commands do all the set-up: `make demo` (the main job on sample data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP_FLAGS := --quiet --disable-pip-version-check --no-warn-script-location

.PHONY: demo test test-fast lint bench install clean

$(BIN)/churnkit: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev,spark]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import churnkit, lifetimes, mlflow, lightgbm, duckdb, ibis, pyspark, xdist"
	touch $@

install: $(BIN)/churnkit

demo: install
	$(BIN)/churnkit demo

# Two workers (one per core); --dist loadfile keeps each file, and its module fixtures, on one worker.
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-fast: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow and not spark and not notebook"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) churnkit-demo .pytest_cache
