# tracker: every target sets up what it needs; `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_EVENTS ?= 1000000
NEWEST := .venv-newest
SCALE_EVENTS ?= 10000000

.DEFAULT_GOAL := help
.PHONY: help install run test test-library-newest test-crash fuzz lint format bench screenshots clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the tracker with its dev tools

run: $(STAMP) ## Serve on 127.0.0.1:8000, events in ./var/tracker.db (TRACKER_* settings apply)
	$(BIN)/tracker serve

test: $(STAMP) ## Run the tests (PostgreSQL tests skip, saying why, when it is unreachable)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-library-newest: ## The store contract tests on the newest eventsourcing release the registry offers
	rm -rf $(NEWEST)
	$(PYTHON) -m venv $(NEWEST)
	$(NEWEST)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST)/bin/python -m pip install --quiet -e ".[dev]"
	$(NEWEST)/bin/python -m pip install --quiet --upgrade eventsourcing
	@$(NEWEST)/bin/python -m pip index versions eventsourcing 2>/dev/null | head -n 1 | sed "s/^/newest on the registry: /"
	@$(NEWEST)/bin/python -c 'from importlib.metadata import version as v; print("testing eventsourcing", v("eventsourcing"))'
	$(NEWEST)/bin/python -m pytest -p no:cacheprovider tests/integration/test_store_contract.py

test-crash: $(STAMP) ## The full crash run: 50,000 reports, 20 SIGKILLs, on SQLite and PostgreSQL
	TRACKER_CRASH_REPORTS=50000 TRACKER_CRASH_KILLS=20 \
		$(BIN)/python -m pytest -s tests/reliability/test_crash_safety.py

fuzz: $(STAMP) ## Schemathesis on both stores with a fresh seed and 500 cases per endpoint
	TRACKER_FUZZ_SEED=random TRACKER_FUZZ_EXAMPLES=500 $(BIN)/python -m pytest tests/e2e/test_fuzzing.py

bench: $(STAMP) ## Ingest (sequential, mixed arrival; tracker, baseline, CRUD), one message, XML, audit tree, rebuild, breakdowns, 10M-event scale; both stores (~1 h)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/one_message.py
	$(BIN)/python bench/xml_body.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/rebuild.py --events $(BENCH_EVENTS)
	$(BIN)/python bench/breakdown.py --messages $(BENCH_EVENTS)
	$(BIN)/python bench/scale.py --events $(SCALE_EVENTS)

screenshots: $(STAMP) ## Photograph the web console into docs/console/ (needs Debian's chromium)
	$(BIN)/python docs/console/screenshots.py

lint: $(STAMP) ## ruff, and the import-linter contracts that keep the layers honest
	$(BIN)/ruff check tracker tests bench docs
	$(BIN)/ruff format --check tracker tests bench docs
	$(BIN)/lint-imports

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format tracker tests bench docs
	$(BIN)/ruff check --fix tracker tests bench docs

clean: ## Remove the virtual environment, caches and the local database
	rm -rf $(VENV) $(NEWEST) var .pytest_cache .ruff_cache .hypothesis *.egg-info
