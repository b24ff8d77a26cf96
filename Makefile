# Two commands on a fresh clone: `make run` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

# pytest caches the test modules it rewrites, and Python the modules it compiles, unless this
# is set (it is on some machines): a run then spends seconds parsing them again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-js test-fast lint format schema bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,test,browser,docs]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/reservations seed
	$(BIN)/reservations serve

# Four workers (pytest-xdist) on two cores: the tests wait on PostgreSQL, timers and other
# processes as much as they compute. The long kinds start first, and the storms run one after
# another on one worker (tests/conftest.py).
test: $(STAMP) test-js
	$(BIN)/python -m pytest -q -n 4 --dist loadgroup $(PYTEST_ARGS)

# The seat page's pure modules (templates/static/seatmap/feed.js, words.js), with Node's own
# test runner; skipped, and said so, where Node is not installed (.ci/run installs it).
test-js:
	@if command -v node >/dev/null 2>&1; then node --test tests/js/; \
	else echo "node is not installed: the JavaScript unit tests in tests/js/ are skipped" >&2; fi

# What a developer runs every few minutes: no browser, no subprocesses, no storms.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 4 --dist loadgroup -m "not browser and not processes and not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check reservations tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format reservations tests bench

# sql/schema.sql: the schema the migrations make, dumped from a freshly migrated database.
schema: $(STAMP)
	$(BIN)/python -m reservations.schema_dump

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .data build *.egg-info
