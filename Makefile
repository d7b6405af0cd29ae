# Promueve: `make run` (everything, embedded defaults) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi
# `make test` runs the suite in this many processes (pytest-xdist), each with its own database;
# each test file runs whole in one of them (the reliability tests share the RabbitMQ vhost).
TEST_WORKERS ?= 2

.PHONY: run test bench lint format setup setup-dev translations extract-messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime translations

setup-dev: $(VENV)/.dev translations

translations: $(VENV)/.runtime
	$(BIN)/pybabel -q compile -d translations

## Serve http://127.0.0.1:5000 with worker, beat (and embedded Redis when REDIS_URL is unset).
run: setup
	bin/run

## The whole test suite (SQLite + embedded Redis unless TEST_DATABASE_URL / TEST_REDIS_URL).
test: setup-dev
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## Benchmarks (bench/bench_*.py); results in bench/results/, summary in bench/README.md.
bench: setup-dev
	$(BIN)/python bench/run.py $(BENCH)

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-dev
	$(BIN)/ruff format .

## Re-extract user-facing strings and merge them into the catalogues.
extract-messages: setup-dev
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -o translations/messages.pot --no-location --sort-output --ignore-dirs=".* _* tests" .
	$(BIN)/pybabel -q update -i translations/messages.pot -d translations --no-fuzzy-matching

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
