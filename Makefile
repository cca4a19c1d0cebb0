# Sandgate: `make up` installs everything and starts web + worker; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
RUNTIME := .sandbox/runtime
LAUNCHER := .sandbox/sandgate-launch
PORT ?= 8000

.PHONY: up install test web worker migrate lint bench clean

up: install migrate
	@echo "Starting the worker (with beat) and the web server on http://127.0.0.1:$(PORT)/ (Ctrl-C stops both)"
	@trap 'kill 0' EXIT INT TERM; \
	$(VENV)/bin/celery -A config worker -B -s var/celerybeat-schedule -Q generate,execute,celery \
	  --concurrency 2 --loglevel INFO & \
	$(VENV)/bin/python manage.py runserver 0.0.0.0:$(PORT) --noreload

install: $(VENV)/.installed $(RUNTIME)/.installed $(LAUNCHER) /usr/bin/bwrap /usr/bin/chromium

/usr/bin/bwrap:
	@command -v bwrap >/dev/null || { \
	  echo "Installing bubblewrap (the local sandbox)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bubblewrap; }

# Debian's chromium for the browser test (Playwright drives it; no `playwright install` download).
/usr/bin/chromium:
	@command -v chromium >/dev/null || { \
	  echo "Installing chromium (the browser test's headless browser)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c requirements.lock -e '.[dev]'
	touch $@

# The launcher between the worker and bwrap: rlimits, cgroup, uid drop, without forking the worker.
$(LAUNCHER): analysis/sandboxes/launcher.c
	@command -v cc >/dev/null || { \
	  echo "Installing a C compiler (for the sandbox launcher)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq gcc libc6-dev; }
	mkdir -p $(@D)
	cc -O2 -Wall -Wextra -Werror -o $@ $<

# The sandbox's Python is its own venv: analysis libraries only, nothing of the app.
$(RUNTIME)/.installed: requirements-sandbox.txt
	$(PYTHON) -m venv $(RUNTIME)
	$(RUNTIME)/bin/pip install -q --upgrade pip
	$(RUNTIME)/bin/pip install -q -r requirements-sandbox.txt
	MPLCONFIGDIR=$(RUNTIME)/mplconfig $(RUNTIME)/bin/python -c "import matplotlib.pyplot"
	touch $@

migrate: install
	$(VENV)/bin/python manage.py migrate --noinput
	$(VENV)/bin/python manage.py seed_demo

web: install
	$(VENV)/bin/python manage.py runserver 0.0.0.0:$(PORT)

worker: install
	$(VENV)/bin/celery -A config worker -Q generate,execute,celery --concurrency 2 --loglevel INFO

test: install
	$(VENV)/bin/pytest

# Every benchmark in one run, one markdown table (needs PostgreSQL and Redis on 127.0.0.1; see README).
bench: install
	$(VENV)/bin/python -m bench

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf var
