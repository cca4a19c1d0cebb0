# Sandgate: `make up` installs everything and starts web + worker; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
RUNTIME := .sandbox/runtime
LAUNCHER := .sandbox/sandgate-launch
CLIENTS := tests/clients
PORT ?= 8000
# The address the web server listens on. Only this machine by default; HOST=0.0.0.0 opens it to the network.
HOST ?= 127.0.0.1
# The demo users' passwords are published: they are created only when nobody else can reach the server.
LOOPBACK := $(filter 127.% localhost ::1 [::1],$(HOST))

.PHONY: up install test web worker migrate secret-key lint bench clean

# honcho runs Procfile.local's processes and stops them all on Ctrl-C. It reads no .env (-e /dev/null):
# the settings read it themselves, under the environment's values.
up: install secret-key migrate
	@echo "Starting the web server on http://$(HOST):$(PORT)/, the worker and beat (Ctrl-C stops them all)"
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" HOST=$(HOST) $(VENV)/bin/honcho -f Procfile.local -e /dev/null \
	  start -p $(PORT)

# A random DJANGO_SECRET_KEY in .env (mode 0600) on the first run; an existing key is never replaced.
secret-key:
	@$(PYTHON) config/envfile.py .env

AXE := tests/browser/node_modules/axe-core/axe.min.js

install: $(VENV)/.installed $(RUNTIME)/.installed $(LAUNCHER) $(CLIENTS)/node_modules/.installed /usr/bin/bwrap \
  /usr/bin/chromium $(AXE)

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

# axe-core for the browser tests' accessibility checks, at the version tests/browser/package-lock.json pins.
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null || { \
	  echo "Installing npm (for axe-core, the browser tests' accessibility checker)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq npm; }
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel error
	touch $@

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c requirements.lock -e '.[dev]'
	touch $@

# The generated-client test's npm tools (openapi-typescript, openapi-fetch, typescript), exactly as locked.
$(CLIENTS)/node_modules/.installed: $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	@command -v npm >/dev/null || { \
	  echo "Installing Node.js and npm (the generated TypeScript client's test)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm; }
	cd $(CLIENTS) && npm ci --no-audit --no-fund
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

migrate: install secret-key
	$(VENV)/bin/python manage.py migrate --noinput
ifneq ($(LOOPBACK),)
	$(VENV)/bin/python manage.py seed_demo --allow-public
else
	@echo "HOST=$(HOST) is reachable from the network: not creating the demo users (their passwords are"
	@echo "published). Create your own: $(VENV)/bin/python manage.py createsuperuser"
endif

web: install secret-key
	$(VENV)/bin/python manage.py runserver $(HOST):$(PORT)

worker: install secret-key
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
