# recdo: `make demo` runs the pipeline on the bundled Open Bandit sample, `make test` runs the tests.
# Both create .venv in the repo when it is missing and install into it: torch first (the pinned
# CPU build; an unpinned torch would pull GBs of CUDA packages), then the project under constraints.txt.

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.recdo-installed
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test test-fast lint clean browser serve

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/recdo run --data data/obd-sample --db recdo.duckdb

test: setup browser lint
	$(PY) -m pytest

# The inner loop: everything but flow runs, servers, worker processes and the browser (about a minute).
test-fast: setup
	$(PY) -m pytest -m "not slow"

# ruff's linter and formatter, configured in pyproject.toml (line length 120).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf .recdo recdo.duckdb recdo.duckdb.wal

# Operations (issue 6). The report test opens the page in headless Chromium (Debian packages chromium,
# chromium-driver): installed here when missing and apt-get is available (CI runs as root).
browser:
	@command -v chromium > /dev/null && command -v chromedriver > /dev/null || \
	  { command -v apt-get > /dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver > /dev/null; } || \
	  echo "chromium/chromedriver missing and not installable here: the report's browser test will be skipped"

# A local Prefect server (UI on :4200), the recdo-local process pool, the three deployments, a worker.
serve: setup
	scripts/serve.sh
