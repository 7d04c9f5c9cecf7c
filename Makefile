# Two commands: `make demo` (install, simulate a study, fit it, print and plot) and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-slow lint bench docs clean

$(STAMP): pyproject.toml
	@set -e; base=$$(scripts/find_python.sh); echo "using $$base"; \
	  [ -x $(PY) ] || $$base -m venv $(VENV); \
	  $(PY) -m pip install -q --upgrade pip; \
	  $(PY) -m pip install -q -e ".[dev,jax]"
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m asem_bayes.demo

test: $(STAMP)
	$(PY) -m ruff check asem_bayes models tests benchmarks
	$(PY) -m pytest -m "not slow" -n 2 --dist loadfile --durations=15

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

lint: $(STAMP)
	$(PY) -m ruff check asem_bayes models tests benchmarks notebooks

bench: $(STAMP)
	$(PY) benchmarks/simulate_speed.py
	$(PY) benchmarks/fit_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache docs/_build
