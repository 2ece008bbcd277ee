# The commands a newcomer types. Both create .venv in the repository root on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app

.PHONY: run test bench translations install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## make run: migrate, load the demo data into an empty database, serve on 127.0.0.1:$PORT with the sender
run: install
	$(FLASK) db upgrade
	$(FLASK) demo load --if-empty
	$(FLASK) serve

## make test: the whole suite (SQLite, and PostgreSQL too when TEST_DATABASE_URL is set)
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: benchmarks printed side by side (the webhook load uses wrk, installed with apt-get when possible)
bench: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)); } \
		|| echo "wrk is not installed: the webhook and memory benchmarks will be skipped"
	$(BIN)/python -m bench

## make translations: extract message keys, update and compile the fr/wo/en catalogues
translations: install
	PATH="$(CURDIR)/$(BIN):$$PATH" sh scripts/translations.sh

clean:
	rm -rf $(VENV) instance/*.sqlite3* .pytest_cache
