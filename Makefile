# Pivot Path: `make run` starts the product on a fresh machine; `make test` runs every test.
# (pytest's exit 5, "no tests collected", counts as a pass so a filtered run is not an error.)
PYTHON ?= python3
VAR_DIR ?= var
export VAR_DIR
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres test-clock test-sqlite lint checks drills setup clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

## run: web + worker + beat on embedded defaults (SQLite, filesystem broker, local outbox)
run:
	./bin/run

## test: lint, the suite on Postgres + Redis, the time-sensitive tests again at ten other instants,
## the suite on SQLite + the embedded broker, then the course checks (lesson files, course maps, a
## small cohort simulation, the twelve-persona journey check)
test: $(STAMP) lint test-postgres test-clock test-sqlite checks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-postgres: $(STAMP)
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} \
	$(BIN)/pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

# Every test freezes the clock (tests/conftest.py); --clock=sweep runs these once at each instant of
# tests/conftest.py SWEEP: 00:30, 07:59, 08:00 and 23:30 UTC, the US and EU DST changes, 29 February
# and 31 December. `make test-postgres PYTEST_ARGS=--clock=2026-12-31T23:30Z` runs the whole suite at one.
TIME_SENSITIVE = tests/test_schedule.py tests/test_planner.py tests/test_drip.py tests/test_checkins.py \
	tests/test_authoring.py tests/test_preferences.py tests/test_checkout.py tests/test_preview_schedule.py \
	tests/test_worker_loop.py
test-clock: $(STAMP)
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} \
	$(BIN)/pytest -q --clock=sweep $(TIME_SENSITIVE) $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-sqlite: $(STAMP)
	DATABASE_URL=sqlite:///$(VAR_DIR)/pivotpath-tests.sqlite3 REDIS_URL= CELERY_BROKER_DIR=$(VAR_DIR)/test-broker \
	$(BIN)/pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

CHECKS_ENV = DATABASE_URL=sqlite:///$(VAR_DIR)/checks.sqlite3 REDIS_URL= DEBUG=true ENV_FILE=
checks: $(STAMP)
	rm -f $(VAR_DIR)/checks.sqlite3*
	$(CHECKS_ENV) $(BIN)/python manage.py validate_lessons lessons/content
	$(CHECKS_ENV) $(BIN)/python manage.py migrate --no-input -v0
	$(CHECKS_ENV) $(BIN)/python manage.py import_lessons lessons/content
	$(CHECKS_ENV) $(BIN)/python manage.py course_map --course clinical-to-non-clinical > /dev/null
	$(CHECKS_ENV) $(BIN)/python manage.py course_map --course ae-after-layoff > /dev/null
	$(CHECKS_ENV) $(BIN)/python manage.py simulate --readers 40 --months 12 --seed 7 --start 2026-01-05T09:00Z --out $(VAR_DIR)/simulation-report.html
	$(CHECKS_ENV) $(BIN)/python manage.py journeys --start 2026-01-05T09:00Z --out $(VAR_DIR)/journeys-report.html

## drills: fault drills on real processes (worker kill -9, Redis outage, PostgreSQL restart, webhook
## storms, hostile input, load on gunicorn, beat stopped); each starts its own services; one summary table
drills: $(STAMP)
	$(BIN)/python drills/run_all.py $(DRILLS)

clean:
	rm -rf $(VAR_DIR) $(VENV)
