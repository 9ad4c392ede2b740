# recdo: `make demo` runs the pipeline on the bundled Open Bandit sample, `make test` runs the tests.
# Both create .venv in the repo when it is missing and install into it: torch first (the pinned
# CPU build; an unpinned torch would pull GBs of CUDA packages), then the project under constraints.txt.

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.recdo-installed
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/recdo run --data data/obd-sample --db recdo.duckdb

test: setup
	$(PY) -m pytest

clean:
	rm -rf .recdo recdo.duckdb recdo.duckdb.wal
