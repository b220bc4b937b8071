# Duly's front door. `make demo` runs the portal on this machine; `make test` runs every test; `make` lists the rest.
# Each public target has a `## target: what it does` line above it: `make help` prints those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock

.DEFAULT_GOAL := help
.PHONY: help translations demo test test-fast test-postgres test-sqlite test-any-day lint format migrations-check system-deps services install lock bench bench-pages bench-reminders bench-selfservice bench-bank clean

## help: list the targets with what each does (the default goal)
help:
	@awk '/^## [a-z][a-z-]*: / { line = substr($$0, 4); i = index(line, ": "); \
	  printf "  make %-18s %s\n", substr(line, 1, i - 1), substr(line, i + 2) }' $(firstword $(MAKEFILE_LIST))

## demo: install, migrate, seed "Demo B.V." and start web + worker + clock (+ a private Redis) on :5000
demo: install
	$(BIN)/python -m portal.launcher

## test: everything a change must pass, against real PostgreSQL, Redis, SMTP and Chromium, then SQLite
test: install system-deps services lint migrations-check test-postgres test-sqlite

## test-fast: while you work: SQLite, no browser tests, stop at the first failure
test-fast: install services
	DULY_TEST_DB=sqlite $(BIN)/pytest -q -x -m "not browser"

## test-postgres: every test against PostgreSQL only
test-postgres: install
	$(BIN)/pytest -q

## test-sqlite: every test against SQLite only
test-sqlite: install
	DULY_TEST_DB=sqlite $(BIN)/pytest -q

## test-any-day: the whole suite on both databases at each preset clock of tests/clock.py (about 1.5 hours)
# The presets: a Saturday, a Sunday, Christmas, 23:30 and 00:30 in Amsterdam, both DST nights.
# One clock: DULY_TEST_CLOCK=saturday make test-postgres
CLOCKS := saturday sunday christmas late-evening after-midnight dst-spring dst-autumn
test-any-day: install services
	@for clock in $(CLOCKS); do \
	  echo "== clock $$clock, PostgreSQL"; DULY_TEST_CLOCK=$$clock $(BIN)/pytest -q -p no:cacheprovider || exit 1; \
	  echo "== clock $$clock, SQLite"; DULY_TEST_CLOCK=$$clock DULY_TEST_DB=sqlite $(BIN)/pytest -q -p no:cacheprovider || exit 1; \
	done

## lint: ruff (style, complexity) and import-linter (the layers and boundaries in .importlinter)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## format: ruff format, then ruff check --fix
format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## migrations-check: models and migrations agree (flask db check on SQLite and PostgreSQL)
migrations-check: install
	scripts/check-migrations

# The versions CI tested come from the lock (hashes checked), then Duly itself without resolving anything again.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Compiled catalogs are built, not committed: the .po files are the source.
PO := $(wildcard portal/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

## install: create .venv, install the versions pinned in requirements.lock, then Duly; compile the catalogs
install: $(STAMP) $(MO)

## lock: pin pyproject.toml's dependencies (extras embedded and test) with their hashes in requirements.lock
# pip-compile runs in a throwaway venv and keeps the pins that still fit; LOCK_FLAGS=--upgrade moves everything to
# the newest versions, LOCK_FLAGS='--upgrade-package NAME' one package. Then `make test` and commit the lock.
LOCK_FLAGS ?=
PIP_TOOLS := pip-tools>=7.4,<8
lock:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp" && "$$tmp/bin/pip" install --quiet '$(PIP_TOOLS)' && \
	CUSTOM_COMPILE_COMMAND="make lock" "$$tmp/bin/pip-compile" --quiet --extra embedded --extra test \
	  --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	  $(LOCK_FLAGS) --output-file $(LOCK) pyproject.toml

## translations: extract the translatable texts and update the catalogs (then fill in the new msgstr lines)
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -o /tmp/duly-messages.pot .
	$(BIN)/pybabel update -i /tmp/duly-messages.pot -d portal/translations -w 120 --no-fuzzy-matching

## system-deps: Debian packages the tests need (Chromium for the browser tier; Pango and fonts for WeasyPrint's letters)
WEASYPRINT_DEBS := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
system-deps:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation; }
	@missing=""; for deb in $(WEASYPRINT_DEBS); do \
	  dpkg -s $$deb >/dev/null 2>&1 || missing="$$missing $$deb"; done; \
	test -z "$$missing" || { \
	  echo "installing$$missing for WeasyPrint (reminder letters)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }

## services: start PostgreSQL and Redis on 127.0.0.1 if they are down (never restarts a running one)
services:
	scripts/ensure-services

## bench: every benchmark below, one after the other (about 35 minutes; figures in docs/benchmarks.md)
# Ledger and demo figures, page latency at 100,000 debtors / 1,000,000 invoices, the reminder engine, the
# self-service page and Mollie webhooks, the bank import.
bench: install services
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.pages
	$(BIN)/python -m bench.reminders
	$(BIN)/python -m bench.selfservice
	$(BIN)/python -m bench.bank

## bench-pages: only the page latency benchmark (PostgreSQL scratch database, dropped afterwards)
bench-pages: install services
	$(BIN)/python -m bench.pages

## bench-reminders: only the reminder engine: planning at 1,000,000 invoices, dispatch, worker memory (~20 min)
bench-reminders: install services
	$(BIN)/python -m bench.reminders

## bench-selfservice: only the debtor's side: the page with 200 open invoices, Mollie webhooks (about a minute)
bench-selfservice: install services
	$(BIN)/python -m bench.selfservice

## bench-bank: only the bank import: a camt.053 of 10,000 entries against 1,000,000 invoices (about 4 minutes)
bench-bank: install services
	$(BIN)/python -m bench.bank

## clean: remove .venv, instance/ (the demo's database and development keys) and what tests leave behind
clean:
	rm -rf $(VENV) instance test-artifacts .pytest_cache .ruff_cache .hypothesis
