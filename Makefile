# Every target creates the virtual environment in .venv on first use, so a fresh machine needs only
# python3 and make. torch is pinned (pyproject.toml) to the CPU build cached on the project's machines.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/linear/quick.yaml
RESULTS ?= results/$(basename $(notdir $(CONFIG)))

.PHONY: install demo test test-fast bench lint figures clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[unet,dask,dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install memgen with every extra

demo: $(STAMP)  ## run the default sweep into results/, then plot and analyse it
	$(BIN)/memgen sweep linear $(CONFIG) --out $(RESULTS)
	$(BIN)/memgen plot $(RESULTS)
	$(BIN)/memgen analyze $(RESULTS)
	@echo "figures: $(RESULTS)/figures/"

figures: $(STAMP)  ## the README's figures: a small sweep, drawn into docs/figures/
	$(BIN)/memgen sweep linear configs/linear/figures.yaml --out results/figures --quiet
	$(BIN)/memgen plot results/figures --out docs/figures --format png
	$(BIN)/memgen analyze results/figures --out docs/figures

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## skip the slow end-to-end tests
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)  ## speed benchmarks; figures go to stdout (record them in docs/benchmarks.md)
	$(BIN)/python benchmarks/bench_linear.py

lint: $(STAMP)
	$(BIN)/ruff check memgen_cli tests benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
