# slidelab — the two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 5000
DATA_DIR ?= .slidelab-data

.PHONY: run test bench lint frontend check-static setup clean guide

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch node_modules/.installed

/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation

setup: $(STAMP) node_modules/.installed

## Start slidelab on the bundled demo slide.
run: $(STAMP)
	$(VENV)/bin/slidelab serve data/demo --data-dir $(DATA_DIR) --port $(PORT)

## Rebuild the frontend bundle into static/.
frontend: node_modules/.installed
	npm run build

## Fail when static/ is not what frontend/ builds to.
check-static: node_modules/.installed
	rm -rf .static-check && npx vite build --outDir $(CURDIR)/.static-check --emptyOutDir --logLevel warn
	diff -r .static-check static || { echo "static/ is stale: run 'make frontend' and commit static/"; rm -rf .static-check; exit 1; }
	rm -rf .static-check

## Style, types and layers: ruff, mypy, import-linter (Python); ESLint, Prettier (frontend).
lint: $(STAMP) node_modules/.installed
	$(VENV)/bin/ruff check server tests
	$(VENV)/bin/ruff format --check server tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	npm run lint

## Every test: lint (style, types, layers), frontend unit tests, static freshness, pytest.
test: $(STAMP) node_modules/.installed /usr/bin/chromium
	$(MAKE) lint
	$(MAKE) check-static
	npm test
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

## Regenerate docs/guide/*.png: the user guide's screenshots, taken by its end-to-end walk.
guide: $(STAMP) node_modules/.installed /usr/bin/chromium
	npm run build
	SLIDELAB_GUIDE_SHOTS=docs/guide/ $(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_guide.py --timeout 900

## Benchmarks: each prints its ratio against a baseline measured in the same run.
bench: $(STAMP)
	for b in tests/benchmarks/bench_*.py; do $(PY) $$b || exit 1; done
	$(PY) tests/benchmarks/browser_workflow.py

clean:
	rm -rf $(VENV) node_modules .static-check
