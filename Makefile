# The two commands of the README:
#   make all   set up, then train the lab model, export it, evaluate, benchmark and predict
#   make test  set up, then run the test suite
# and beside them: make check (lint, format, types, generated docs), make test-runtime (the runtime's
# tests alone, no TensorFlow), make test-slow (the full-size checks).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The IMDB archive: $EDGE_SENTIMENT_DATA, else the shared copy, else the one `edge-sentiment data download` caches.
CACHED := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/edge-sentiment/aclImdb_v1.tar.gz
DATA   ?= $(or $(EDGE_SENTIMENT_DATA),$(wildcard ../shared/data/aclImdb.tar.gz),$(CACHED))
RUN    ?= runs/lab
# lab-keras2: the lab's recipe with Keras 2's per-step dropout masks, what reproduces its accuracy on Keras 3 (docs/lab.md).
RECIPE ?= lab-keras2
BUNDLE ?= bundles/lab

.PHONY: all setup data check test test-js test-runtime test-slow train export evaluate bench predict default-bundle test-assets

all: setup train export evaluate bench predict

$(BIN)/edge-sentiment: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,bench,dev,ray,litert]'
	touch $@

setup: $(BIN)/edge-sentiment

test: setup
	$(BIN)/python -m pytest
	$(MAKE) test-js

# The JavaScript package (js/) on onnxruntime-node and onnxruntime-web, and examples/web in headless
# Chromium: Node 18+, npm and Chromium from the system (Debian: apt-get install nodejs npm chromium),
# the npm packages from js/package-lock.json (onnxruntime-node's CUDA download skipped).
test-js: js/node_modules/.installed
	cd js && npm test

js/node_modules/.installed: js/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "make test-js needs Node.js 18+ and npm: apt-get install nodejs npm chromium"; exit 1; }
	cd js && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

test-runtime: setup
	$(BIN)/python -m pytest -m "not needs_tf and not needs_ray and not slow and not fuzz_long"

test-slow: setup
	$(BIN)/python -m pytest -m slow

check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python tools/maintenance/docs.py --check

# Downloads the archive into the cache (and checks its sha256) when that is where DATA points.
data: setup
ifeq ($(DATA),$(CACHED))
	$(BIN)/edge-sentiment data download
endif

train: data
	$(BIN)/edge-sentiment train --recipe $(RECIPE) --data $(DATA) --out $(RUN) --force

export: data
	$(BIN)/edge-sentiment export $(RUN) --out $(BUNDLE) --data $(DATA) --quantize int8 --force

evaluate: data
	$(BIN)/edge-sentiment evaluate --bundle $(BUNDLE) --data $(DATA)

bench: data
	$(BIN)/edge-sentiment bench --bundle $(BUNDLE) --data $(DATA) --precision fp32,int8 --plot $(BUNDLE)-latency.png

predict: setup
	$(BIN)/edge-sentiment predict --bundle $(BUNDLE) "A wonderful, moving film." "Dull, and far too long."

# Remakes the bundle shipped inside the package (src/edge_sentiment/assets/default).
default-bundle: data
	$(BIN)/python tools/maintenance/make_default_bundle.py --data $(DATA)

# Remakes the tiny committed test assets (tests/assets), no IMDB data needed.
test-assets: setup
	$(BIN)/python tools/maintenance/make_test_assets.py
