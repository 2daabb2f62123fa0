# Two commands on a fresh machine with only Python 3.11: `make report` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers: one more than the cores. A worker spends part of each case waiting
# on its framework workers (harness/isolation.py), which the extra one fills: on 2 cores the
# suite took 6 min 34 s with 3 workers, 7 min 53 s with 2 (-n auto).
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

.PHONY: report test bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[frameworks,family,test]'
	touch $(STAMP)

# The conformance suite under the default (ci) profile, collected into one report.
report: $(STAMP)
	$(BIN)/python -m harness.run_pytest cases/ -n $(WORKERS) --parity-report reports/latest

# The suite, collected into a parity report, then compared with the committed baseline for
# the pinned versions (reports/baselines/): a regression fails.
test: $(STAMP)
	$(BIN)/python -m harness.run_pytest -n $(WORKERS) cases/ tests/ --parity-report reports/latest
	$(BIN)/optim-parity compare @baseline reports/latest/results.json --html reports/latest/compare.html

bench: $(STAMP)
	$(BIN)/optim-parity bench

clean:
	rm -rf $(VENV) reports/latest .hypothesis
