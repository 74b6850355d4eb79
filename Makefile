# Two commands: `make run` (set up, index seeds/, serve the API and chat page) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast setup setup-dev browser index eval bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: takes the CPU build instead of a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	touch $@

# llama.cpp built for a portable AVX-512 target: a native build picks up AMX, which these CPUs
# report without enabling, and crashes on the first request (README, "Generated answers").
# --no-cache-dir: a cached native wheel would be reused whatever CMAKE_ARGS say.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON

$(TEST_STAMP): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q --no-cache-dir 'llama-cpp-python[server]>=0.3'
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(STAMP)

setup-dev: $(TEST_STAMP) browser

browser:
	@command -v chromium >/dev/null 2>&1 || ( (command -v sudo >/dev/null && SUDO=sudo || SUDO=""; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "warning: could not install Debian chromium; browser tests will be skipped" )

index: $(STAMP)
	$(BIN)/rag index seeds/

run: index
	$(BIN)/rag serve --host $(HOST) --port $(PORT)

# The whole suite with the real model, FAISS, Milvus Lite, uvicorn and Chromium; the gold-set gate
# (`rag eval` with its floors) runs inside it, once (tests/query/test_answering.py).
test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The developers' loop: logic tests with the fake encoder, no model, no server, no browser (< 60 s).
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider

eval: index
	$(BIN)/rag eval --gold eval/seeds.jsonl --json eval/reports/seeds.json

clean:
	rm -rf index/current index/builds index/cache test-artifacts
