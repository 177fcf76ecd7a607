# Set-up and everyday commands. `make demo` and `make test` create .venv on first use.
#
# Python 3.10 is found in this order (Lava 0.10 runs only there):
#   1. PYTHON=/path/to/python3.10 given by you on the command line or in the environment
#   2. `python3.10` on PATH, if it actually runs
#   3. the newest 3.10 that pyenv knows (`pyenv latest 3.10`), run through PYENV_VERSION
# The environment is reinstalled only when pyproject.toml changes (a stamp keyed on its hash).

SHELL := /bin/bash
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
PYTEST_ARGS ?=

.PHONY: help demo test lint typecheck check data bench-cheon bench-speed bench-sim bench-sim-fashion venv clean

help:
	@echo "make demo   - set up .venv if needed, then train, compile and run the digits demo in Lava"
	@echo "make test   - set up .venv if needed, then run the test suite"
	@echo "make lint   - ruff and mypy on toolkit/ and compilers/"
	@echo "make data   - install Debian's Fashion-MNIST package (root) or print how"
	@echo "make bench-cheon | bench-speed | bench-sim | bench-sim-fashion - the benchmarks (see README)"

demo: $(STAMP)
	$(VENV)/bin/nfa demo

test: $(STAMP)
	$(VPY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check toolkit compilers tests
	$(VENV)/bin/mypy

check: lint test

venv: $(STAMP)

$(STAMP): pyproject.toml
	@set -euo pipefail; \
	want_310() { "$$@" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }; \
	if [ -x "$(VPY)" ] && ! want_310 "$(VPY)"; then \
	  echo "$(VENV) is not Python 3.10; recreating it"; rm -rf "$(VENV)"; fi; \
	if [ ! -x "$(VPY)" ]; then \
	  py=(); \
	  if [ -n "$${PYTHON:-}" ]; then py=("$$PYTHON"); \
	  elif want_310 python3.10; then py=(python3.10); \
	  elif command -v pyenv >/dev/null 2>&1 && v=$$(pyenv latest 3.10 2>/dev/null) && [ -n "$$v" ]; then \
	    py=(env PYENV_VERSION="$$v" python3.10); fi; \
	  if [ $${#py[@]} -eq 0 ] || ! want_310 "$${py[@]}"; then \
	    echo "error: no Python 3.10 found (Lava 0.10 needs exactly 3.10): install it (e.g. 'pyenv install 3.10') or run 'make PYTHON=/path/to/python3.10 $(MAKECMDGOALS)'" >&2; \
	    exit 1; fi; \
	  echo "creating $(VENV) with $$("$${py[@]}" -c 'import sys; print(sys.executable)')"; \
	  "$${py[@]}" -m venv "$(VENV)"; \
	fi; \
	$(VPY) -m pip install --quiet --upgrade "pip>=25.1"; \
	$(VPY) -m pip install --progress-bar off -e . --group dev; \
	rm -f $(VENV)/.installed-*; touch "$@"

data:
	@if dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then \
	  echo "Fashion-MNIST is installed: $$(dpkg -L dataset-fashion-mnist | grep -m1 'idx3-ubyte' | xargs dirname)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y dataset-fashion-mnist || { apt-get update && apt-get install -y dataset-fashion-mnist; }; \
	else \
	  echo "Fashion-MNIST is not installed. Run: sudo apt-get install dataset-fashion-mnist"; \
	  echo "or download the four IDX files from https://github.com/zalandoresearch/fashion-mnist and pass --data-dir DIR"; \
	fi

bench-cheon: $(STAMP)
	$(VENV)/bin/nfa bench cheon --dataset digits --quick

bench-speed: $(STAMP)
	$(VENV)/bin/nfa bench speed

# the reference simulator vs Lava on the demo network (digits), and on the Fashion-MNIST FA + noise MLP
# (trained from examples/, 784-256-256-10, rate mode with constant-current input: docs/results/simulator.md)
runs/demo/net/network.nfa: $(STAMP)
	$(VENV)/bin/nfa demo

bench-sim: runs/demo/net/network.nfa
	$(VENV)/bin/nfa bench sim runs/demo/net

runs/fa-noise-fashion-mnist/model.pt: $(STAMP)
	$(VENV)/bin/nfa train examples/fa-noise-fashion-mnist.yaml --threads 1

bench-sim-fashion: runs/fa-noise-fashion-mnist/model.pt
	$(VENV)/bin/nfa compile $< --hw loihi2 --mode rate --encoding current --data fashion-mnist \
	  -o runs/fa-noise-fashion-mnist/net-current
	$(VENV)/bin/nfa bench sim runs/fa-noise-fashion-mnist/net-current --data fashion-mnist --lava-samples 200 \
	  --json runs/fa-noise-fashion-mnist/bench-sim.json

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
