# Two commands on a fresh machine with python3 (3.11+): `make demo` and `make test`.
# Both create .venv from requirements.lock (exact pins) when it is missing or stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export CDP_DUCKDB_PATH ?= $(CURDIR)/warehouse/cdp.duckdb
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
# Write bytecode caches even where the shell says not to: every test spawns Python processes
# (cdp, dbt, Dagster steps) that otherwise compile great_expectations, dbt and pandas from
# source each time (importing great_expectations: 13 s without caches, 6 s with them).
export PYTHONDONTWRITEBYTECODE :=

.PHONY: install demo test lint lint-python format bench ui clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# The browser SDK of the collector's test (tests/browser/package-lock.json), where npm is
# installed; without npm that one test skips (CI requires it: CDP_REQUIRE_BROWSER=1).
NODE_STAMP := tests/browser/node_modules/.installed-stamp
$(NODE_STAMP): tests/browser/package.json tests/browser/package-lock.json
	@if command -v npm > /dev/null; then \
		npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the browser SDK test will skip"; fi

install: $(STAMP)

# The demo builds a warehouse of its own, afresh: demo/cdp.duckdb (not the default one).
demo: $(STAMP)
	env -u CDP_DUCKDB_PATH $(BIN)/cdp demo

SQLFLUFF = $(BIN)/sqlfluff lint models tests/data_tests

lint: lint-python
	$(SQLFLUFF) --processes 0

lint-python: $(STAMP)
	$(BIN)/ruff check orchestration tests bench
	$(BIN)/ruff format --check orchestration tests bench
	$(BIN)/dbt parse --quiet

# `make test` is `make lint` and pytest, with sqlfluff (about a minute of CPU, on one core)
# running beside pytest, whose two workers leave a core partly idle while they wait on
# subprocesses and PostgreSQL. Either failing fails the target; sqlfluff's whole report
# follows when it fails.
test: lint-python $(NODE_STAMP)
	@$(SQLFLUFF) --processes 1 > $(VENV)/sqlfluff.log 2>&1 & lint=$$!; \
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder; tests=$$?; \
	wait $$lint; sql=$$?; echo "sqlfluff lint (exit $$sql)"; \
	if [ $$sql -ne 0 ]; then cat $(VENV)/sqlfluff.log; else tail -n 3 $(VENV)/sqlfluff.log; fi; \
	test $$tests -eq 0 && test $$sql -eq 0

format: $(STAMP)
	$(BIN)/ruff format orchestration tests bench
	$(BIN)/ruff check --fix orchestration tests bench

bench: $(STAMP)
	$(BIN)/python bench/bench_generate_load.py
	$(BIN)/python bench/bench_identity_components.py
	$(BIN)/python bench/bench_end_to_end.py --customers 100000
	$(BIN)/python bench/bench_end_to_end.py --customers 100000 --target postgres
	$(BIN)/python bench/bench_end_to_end.py --customers 1000000
	$(BIN)/python bench/bench_syncs.py
	$(BIN)/python bench/bench_collector.py
	$(BIN)/python bench/bench_profiles.py
	$(BIN)/python bench/bench_freshness.py
	$(BIN)/python bench/bench_quality.py
	$(BIN)/python bench/bench_privacy.py

ui: $(STAMP)
	$(BIN)/cdp ui

clean:
	rm -rf target logs warehouse demo .dagster
