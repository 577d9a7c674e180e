# Every target creates the virtual environment in .venv on first use, so a fresh machine needs only python3 and
# make. Two levels: the base install (memgen alone: the linear model, analysis, figures; no torch) for demo and
# figures, and the full one (every extra: the U-Net's torch and diffusers, Dask, the test tools) for the rest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.installed-base
FULL := $(VENV)/.installed-full
CONFIG ?= configs/linear/quick.yaml
RESULTS ?= results/linear-$(basename $(notdir $(CONFIG)))

.PHONY: install install-base demo test test-fast bench bench-unet bench-gpu lint figures reproduce-quick reproduce clean

# torch, installed only by the full install. TORCH overrides the choice (.ci/run pins torch==2.13.0, the CPU build
# cached on the project's machines). Otherwise: pip's default build where an NVIDIA GPU is (CUDA); the CPU build
# from PyTorch's index where that index answers (never the multi-GB CUDA build on a laptop); else the project's pin.
TORCH_PIN := torch==2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_RANGE := "torch>=2.0,<3"
TORCH ?= $(if $(shell command -v nvidia-smi),$(TORCH_RANGE),$(if $(shell $(PYTHON) -c "import urllib.request as r; \
	r.urlopen('$(TORCH_CPU_INDEX)/torch/', timeout=5)" >/dev/null 2>&1 && echo up),$(TORCH_RANGE) \
	--extra-index-url $(TORCH_CPU_INDEX),"$(TORCH_PIN)"))

$(BASE): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(BASE)

$(FULL): $(BASE)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[unet,dask,dev]"
	touch $(FULL)

install-base: $(BASE)  ## memgen alone: the linear model, plot, analyze, report (no torch)

install: $(FULL)  ## create .venv and install memgen with every extra

demo: $(BASE)  ## run the default sweep into results/, then plot and analyse it
	$(BIN)/memgen sweep linear $(CONFIG) --out $(RESULTS)
	$(BIN)/memgen plot $(RESULTS)
	$(BIN)/memgen analyze $(RESULTS)
	@echo "figures: $(RESULTS)/figures/"

figures: $(BASE)  ## the README's figures: a small sweep, drawn into docs/figures/
	$(BIN)/memgen sweep linear configs/linear/figures.yaml --out results/figures --quiet
	$(BIN)/memgen plot results/figures --out docs/figures --format png
	$(BIN)/memgen analyze results/figures --out docs/figures

# The tests run in one process per core (pytest-xdist, from the dev extra), at most 4; each test file stays in one
# process (--dist loadfile), so that a file's shared (module-scoped) folders are built once. tests/conftest.py gives
# each process one BLAS thread.
PYTEST := $(BIN)/python -m pytest -q -rs -n auto --maxprocesses 4 --dist loadfile

test: $(FULL)  ## the whole test suite
	$(PYTEST)

test-fast: $(FULL)  ## skip the slow end-to-end tests
	$(PYTEST) -m "not slow"

bench: $(FULL)  ## speed benchmarks; figures go to stdout (recorded in docs/benchmarks.md)
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_linear.py
	$(BIN)/python benchmarks/bench_unet.py --presets tiny,small --steps 3
	$(BIN)/python benchmarks/bench_closedform.py
	$(BIN)/python benchmarks/bench_evaluate.py

bench-unet: $(FULL)  ## the U-Net benchmark with every preset, the 12.9 M paper one included (slow on CPU)
	$(BIN)/python benchmarks/bench_unet.py

bench-gpu: $(FULL)  ## the U-Net on a GPU: throughput (alone, grouped; fp32, bf16), evaluation, Fig. 4 projected
	$(BIN)/python benchmarks/bench_gpu.py $(if $(shell $(BIN)/python -c "import torch; print(torch.cuda.is_available() or '')"),,--quick)

# The paper's experiments (issue 6). Each sweep resumes if interrupted; figures and transitions.csv land in
# results/paper/<name>/. Expected times: docs/reproduction.md.
PAPER_LINEAR := fig2-3-d16 fig2-3-d100 fig3-large-n-d16
ABLATIONS := ablation-covariance ablation-ridge ablation-bandwidth
define run_paper
	$(BIN)/memgen sweep $(1) configs/paper/$(2).yaml --out results/paper/$(2) --quiet
	$(BIN)/memgen plot results/paper/$(2)
	$(BIN)/memgen analyze results/paper/$(2)

endef

reproduce-quick: $(FULL)  ## the paper's experiments, small: about 4 minutes on 2 CPU cores
	$(foreach c,$(PAPER_LINEAR),$(call run_paper,linear,$(c)-quick))
	$(call run_paper,unet,fig4-unet-quick)

reproduce: $(FULL)  ## the paper's experiments as published, plus the ablations (Fig. 4 wants a GPU)
	$(foreach c,$(PAPER_LINEAR) $(ABLATIONS),$(call run_paper,linear,$(c)))
	$(call run_paper,unet,fig4-unet)
	$(BIN)/memgen sweep unet configs/paper/fig4-unet-quick.yaml --set training.schedule=logsnr_linear \
		--out results/paper/fig4-unet-quick-logsnr --quiet
	$(BIN)/memgen analyze results/paper/fig4-unet-quick-logsnr

lint: $(FULL)
	$(BIN)/ruff check memgen_cli tests benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
