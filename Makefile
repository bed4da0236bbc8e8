# Two commands on a fresh machine with Python 3.11+:  make run  ·  make test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Two pytest workers: the machines here (and CI) have two cores.
TEST_WORKERS ?= 2
SAMPLES := tests/fixtures/seed tests/fixtures/formats tests/fixtures/samples

.PHONY: run test serve worker lint bench clean oracles

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.x)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

var/secret_key:
	mkdir -p var
	$(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	chmod 600 $@

# A local instance: DEBUG on, the embedded SQLite database under var/, the samples loaded, a first
# admin printed once, the background-job worker beside the web server (at a lower CPU priority, so
# bulk jobs never slow the pages down).
run: $(VENV)/.installed var/secret_key
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py ingest $(SAMPLES) || true
	DEBUG=1 $(PY) manage.py create_first_admin
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops the server and the worker)"
	DEBUG=1 nice -n 10 $(PY) manage.py db_worker --interval 1 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

# Architecture, style and types, with no findings allowed: every contract of .importlinter (layers,
# no import cycle, the pure core and the integration without Django), ruff's rules and format, and
# mypy --strict on the pure core and the integration (pyproject.toml).
lint: $(VENV)/.installed
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The tools' own readers, the judges of what we write back (Python 3.12 venvs under .oracles/; the
# tests that use them skip, saying why, where they cannot be built). .ci/run builds them.
oracles:
	bash tests/oracles/build.sh

bench: $(VENV)/.installed
	$(PY) bench/ingest.py
	$(PY) bench/check.py

clean:
	rm -rf $(VENV) var/staticfiles
