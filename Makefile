# mlhep developer targets. `make example` sets everything up and runs the default fit.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install example test test-slow lint bench bench-n3fit n3fit-venv eelsfitter-venv energyflow-venv weaver-venv \
        smefit-venv pybumphunter-venv theory bundle clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python  ## create .venv and install mlhep with the QCD theory stack and test tools
	$(BIN)/pip install --quiet -e ".[all]"

# The theory ships in mlhep/theory_bundle (checksummed); these rebuild it from scratch with yadism + eko into
# $(MLHEP_CACHE) (default ~/.cache/mlhep), the bundle switched off: 40-60 min on 2 cores, a quarter of it numba
# compiling eko's kernels once per virtual environment. The Les Houches toy's LO operators serve the unbinned
# eft-fit PDF and the LO LH benchmark test (the slow tier computes the NLO ones itself).
NO_BUNDLE = MLHEP_THEORY_BUNDLE=0
theory: install  ## rebuild the bundled theory from scratch: DIS FK tables (LO, NLO), eko operators, LH toy (LO)
	$(NO_BUNDLE) $(BIN)/python scripts/build_fk_tables.py --all-dis --order LO
	$(NO_BUNDLE) $(BIN)/python scripts/build_fk_tables.py --all-dis --order NLO
	$(NO_BUNDLE) $(BIN)/python -c "from mlhep.physics.lh_toy import lh_toy_at; lh_toy_at(100.0, [0.1], order='LO')"

bundle: theory  ## rebuild the theory, then copy it into mlhep/theory_bundle with a new manifest
	$(BIN)/python scripts/build_theory_bundle.py

example: install  ## set up and run the default fit (embedded runcard, bundled theory), then print its report
	$(BIN)/mlhep fit -o results/default.h5
	$(BIN)/mlhep report results/default.h5 --plot results/default-plots

# The default tier runs as three pytest processes: one process accumulates every compiled program of the whole
# suite (it grew to 7.6 GB), and a segfault in JAX's compilation-cache write ended such a run once, at its end.
TEST_SPLIT = tests/tasks \
             "tests/hyperopt tests/bad_input tests/engine" \
             "tests --ignore=tests/tasks --ignore=tests/hyperopt --ignore=tests/bad_input --ignore=tests/engine"
test: install  ## the default test tier: every task, the CLI, the engine; no theory rebuild (fails if no test ran)
	for part in $(TEST_SPLIT); do \
	    $(BIN)/python -m pytest -q -ra --durations=10 --timeout=900 -m "not slow" $$part || exit 1; done

test-slow: install  ## theory rebuilds (yadism + eko against the bundle, LH benchmark), long end-to-end fits
	$(BIN)/python -m pytest -q -ra --durations=15 --timeout=1800 -m slow

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

bench-n3fit: install n3fit-venv  ## n3fit vs mlhep on the same FK tables and data: benchmarks/n3fit.md
	$(BIN)/python scripts/bench_n3fit.py --n3fit-venv $(N3FIT_VENV)

# The other competitors, each in an environment of its own (never mlhep's dependencies). torch 2.13.0 is pinned
# because it installs as a CPU build here; an unpinned torch pulls a CUDA build of several GB.
EELSFITTER_VENV ?= .venv-eelsfitter
eelsfitter-venv: $(EELSFITTER_VENV)/bin/python  ## EELSfitter 3.1 (PyTorch, CPU) for scripts/bench_eels.py
$(EELSFITTER_VENV)/bin/python:
	$(PYTHON) -m venv $(EELSFITTER_VENV)
	$(EELSFITTER_VENV)/bin/pip install --quiet torch==2.13.0 "eelsfitter==3.1.*"

ENERGYFLOW_VENV ?= .venv-energyflow
energyflow-venv: $(ENERGYFLOW_VENV)/bin/python  ## energyflow's PFN/EFN (Keras, TensorFlow CPU) for benchmarks/jets.md
$(ENERGYFLOW_VENV)/bin/python:
	$(PYTHON) -m venv $(ENERGYFLOW_VENV)
	$(ENERGYFLOW_VENV)/bin/pip install --quiet energyflow tensorflow-cpu

WEAVER_VENV ?= .venv-weaver
weaver-venv: $(WEAVER_VENV)/bin/python  ## weaver-core's ParticleNet / ParT (PyTorch, CPU) for benchmarks/jets.md
$(WEAVER_VENV)/bin/python:
	$(PYTHON) -m venv $(WEAVER_VENV)
	$(WEAVER_VENV)/bin/pip install --quiet torch==2.13.0 weaver-core

PYBUMPHUNTER_VENV ?= .venv-pybumphunter
pybumphunter-venv: $(PYBUMPHUNTER_VENV)/bin/python  ## pyBumpHunter 0.5.1 for scripts/bench_bumphunt.py scan
$(PYBUMPHUNTER_VENV)/bin/python:
	$(PYTHON) -m venv $(PYBUMPHUNTER_VENV)
	$(PYBUMPHUNTER_VENV)/bin/pip install --quiet pyBumpHunter==0.5.1

# SMEFiT 4.0 (its nested sampling needs ultranest, which builds from source: gcc, about 5 min).
SMEFIT_VENV ?= .venv-smefit
smefit-venv: $(SMEFIT_VENV)/bin/smefit  ## SMEFiT 4.0 for scripts/bench_eft.py and bench_eft_posteriors.py
$(SMEFIT_VENV)/bin/smefit:
	$(PYTHON) -m venv $(SMEFIT_VENV)
	$(SMEFIT_VENV)/bin/pip install --quiet smefit==4.0.0

clean:
	rm -rf results .pytest_cache build *.egg-info
