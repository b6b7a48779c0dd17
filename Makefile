# The commands of the README. Each installs what it needs into ./.venv first: Python 3.11, found (or refused in one
# line) by .ci/make_venv; `make PYTHON=/path/to/python3.11 ...` picks the interpreter.
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint bench reproduce mutation mutation-tf clean
WORK_DIR ?= reproduce_output
TEST_WORKERS ?= 2

$(STAMP): requirements.txt requirements-dev.txt
	.ci/make_venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)  ## VOC-layout demo data -> records -> train -> evaluate -> inference -> stacking -> CRF -> scores
	$(VENV)/bin/python demo.py --output_dir demo_output

reproduce: $(STAMP)  ## the README tables from the official downloads: make reproduce WORK_DIR=dir ARGS="--voc_test_tar ..."
	$(VENV)/bin/python reproduce.py --work_dir $(WORK_DIR) $(ARGS)

test: lint  ## ruff, then the whole test suite: one file per pytest worker, TEST_WORKERS of them (default 2)
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

lint: $(STAMP)  ## ruff: pyflakes, pycodestyle (120 columns) and import order, configured in ruff.toml
	$(VENV)/bin/ruff check .

test-slow: $(STAMP)  ## the tests that train the demo models long enough to learn (minutes)
	$(VENV)/bin/python -m pytest -q -m slow tests

bench: $(STAMP)  ## throughput measurements written up in BENCHMARKS.md
	for script in bench/bench_*.py; do $(VENV)/bin/python $$script || exit 1; done

mutation: $(STAMP)  ## mutation testing of the TensorFlow-free packages (not part of `make test`): docs/testing.md
	$(VENV)/bin/mutmut run --max-children $(TEST_WORKERS)
	$(VENV)/bin/python tests/mutation_report.py

mutation-tf: $(STAMP)  ## hand-made mutations of the TensorFlow modules, ARGS="--only nets/" for some: docs/testing.md
	$(VENV)/bin/python tests/tf_mutations.py $(ARGS)

clean:
	rm -rf demo_output mutants
