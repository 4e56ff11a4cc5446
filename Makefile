# mlhep developer targets. `make example` sets everything up and runs the default fit.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install example test test-all lint bench bench-n3fit n3fit-venv fktables clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python  ## create .venv and install mlhep with the QCD theory stack and test tools
	$(BIN)/pip install --quiet -e ".[all]"

# The eko operators of the Les Houches benchmark PDF are what the evolution tests compare with the published tables.
fktables: install  ## build the theory once (cached in ~/.cache/mlhep): DIS FK tables (LO, NLO), LH benchmark
	$(BIN)/python scripts/build_fk_tables.py --all-dis --order LO
	$(BIN)/python scripts/build_fk_tables.py --all-dis --order NLO
	$(BIN)/python -c "from mlhep.physics.lh_toy import lh_toy_at; lh_toy_at(100.0, [0.1], order='LO')"
	$(BIN)/python -c "from mlhep.physics.lh_toy import lh_toy_at; lh_toy_at(100.0, [0.1], order='NLO')"

example: install fktables  ## set up and run the default fit (embedded runcard), then print its report
	$(BIN)/mlhep fit -o results/default.h5
	$(BIN)/mlhep report results/default.h5 --plot results/default-plots

test: fktables  ## the test suite, after installing and building the FK tables (fails when no test ran)
	$(BIN)/python -m pytest -q -ra --durations=15 --timeout=1800

lint: install
	$(BIN)/pip install --quiet ruff
	$(BIN)/ruff check mlhep tests scripts --line-length 120 --select E,F,W

bench: install  ## benchmark tables into benchmarks/
	$(BIN)/python scripts/bench_engine.py
	$(BIN)/python scripts/bench_pdf.py
	$(BIN)/python scripts/bench_eft.py

# NNPDF's own fitting code in a virtual environment of its own (TensorFlow), to time it on mlhep's FK tables.
N3FIT_VENV ?= .venv-n3fit
n3fit-venv: $(N3FIT_VENV)/bin/n3fit  ## n3fit (PyPI nnpdf) beside mlhep, for bench-n3fit
$(N3FIT_VENV)/bin/n3fit:
	$(PYTHON) -m venv $(N3FIT_VENV)
	$(N3FIT_VENV)/bin/pip install --quiet nnpdf lhapdf-management pdfflow

bench-n3fit: install fktables n3fit-venv  ## n3fit vs mlhep on the same FK tables and data: benchmarks/n3fit.md
	$(BIN)/python scripts/bench_n3fit.py --n3fit-venv $(N3FIT_VENV)

clean:
	rm -rf results .pytest_cache build *.egg-info
