# The two commands a newcomer needs:  make run   and   make test
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test install lint clean vendor

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	PORT=$(PORT) $(PY) manage.py demo
	@# portal.serve is uvicorn with the request-head guard and the OCPP frame limit.
	@# The periodic tasks (retries, key age, campaigns) run beside the server, as beat would.
	$(PY) manage.py periodic & PERIODIC=$$!; trap 'kill $$PERIODIC 2>/dev/null' EXIT INT TERM; \
	$(PY) -m portal.serve --host $(HOST) --port $(PORT)

# One pytest worker per core (pytest-xdist; each worker has its own database and Redis
# namespace): the suite is mostly waiting on live servers. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# The browser files the portal serves and its tests inject, from the npm registry at the
# versions package-lock.json pins; the copies are committed, so `make run` needs no npm.
vendor:
	npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p static/vendor tests/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/htmx.org/LICENSE static/vendor/htmx.LICENSE
	cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chart.umd.min.js
	cp node_modules/chart.js/LICENSE.md static/vendor/chart.js.LICENSE.md
	cp node_modules/axe-core/axe.min.js tests/vendor/axe.min.js
	cp node_modules/axe-core/LICENSE tests/vendor/axe-core.LICENSE

clean:
	rm -rf $(VENV) var .pytest_cache node_modules
