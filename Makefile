# gridml: `make demo` runs the platform end to end on embedded defaults; `make test` runs every test.
# Both create the virtual environment (.venv) when it is missing. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKSPACE ?= workspace
ZONE ?= experiments/zone.yaml
DEMAND ?= experiments/demand.yaml
MAINTENANCE ?= experiments/maintenance.yaml
THEFT ?= experiments/theft.yaml
# make demo ends by serving the models in the foreground (SERVE=0: stop after training)
SERVE ?= 1
PORT ?= 3000
export GRIDML_WORKSPACE := $(abspath $(WORKSPACE))

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing gridml and its pinned stack into $(VENV) (a few minutes the first time)"
	@$(BIN)/pip install --quiet --upgrade pip 2>&1 | { grep -v '^WARNING: Location' || true; }
	@$(BIN)/pip install --quiet -e '.[dev]' 2>&1 | { grep -v '^WARNING: Location' || true; }
	@touch $(STAMP)

.PHONY: venv
venv: $(STAMP) ## Create .venv and install gridml with its pinned stack

.PHONY: demo
demo: $(STAMP) ## Run the platform end to end on the default zone: data, features, the three models, serving
	$(BIN)/gridml data generate --config $(ZONE)
	$(BIN)/gridml data validate
	$(BIN)/gridml features build
	$(BIN)/gridml features apply
	$(BIN)/gridml features materialize
	$(BIN)/gridml features online demand_forecast_v1
	$(BIN)/gridml features online theft_detection_v1 --id M000001
	$(BIN)/gridml features online asset_failure_v1
	$(BIN)/gridml stream demo  # readings live through MQTT (says it skipped when no broker)
	$(BIN)/gridml train demand --config $(DEMAND)
	$(BIN)/gridml train maintenance --config $(MAINTENANCE)
	$(BIN)/gridml train theft --config $(THEFT)
	-$(BIN)/gridml promote demand-forecast  # a refusal (exit 1) is reported, not fatal
	-$(BIN)/gridml promote theft-detection
	$(BIN)/gridml card demand-forecast
	$(BIN)/gridml card asset-failure
	$(BIN)/gridml card theft-detection
	@if [ "$(SERVE)" = "1" ]; then $(MAKE) --no-print-directory serve; fi

.PHONY: serve
serve: $(STAMP) ## Serve the workspace's models over HTTP (prints example calls; Ctrl-C stops)
	@key=$$($(BIN)/gridml serve keys create --name demo --role reader --role ingest --role admin 2>/dev/null); \
	echo "API key 'demo' (reader, ingest, admin; rotated on each make serve): $$key"; \
	$(BIN)/gridml serve examples --key "$$key" --port $(PORT); \
	echo "starting the service on http://127.0.0.1:$(PORT) (Ctrl-C to stop)"; \
	$(BIN)/gridml serve --port $(PORT)

.PHONY: test
test: $(STAMP) ## Lint, then run every test (unit, integration and slow)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	rm -rf build/mypy && mkdir -p build/mypy/gridml && ln -s $(CURDIR)/src/gridml/* $(CURDIR)/features $(CURDIR)/training $(CURDIR)/serving build/mypy/gridml/ && $(BIN)/mypy
	$(BIN)/pytest

.PHONY: test-fast
test-fast: $(STAMP) ## Unit tests only (skips integration and slow)
	$(BIN)/pytest -m "not integration and not slow" --timeout 120

.PHONY: lint
lint: $(STAMP) ## Fix what ruff can fix and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: bench
bench: $(STAMP) ## Run the benchmarks (prints tables, writes bench/results/*.json)
	$(BIN)/python -m bench.run_features
	$(BIN)/python -m bench.run_demand
	$(BIN)/python -m bench.run_risk
	$(BIN)/python -m bench.run_serving
	$(BIN)/python -m bench.run_incremental
	@if $(BIN)/python -c "from gridml.stream.broker import reachable; from gridml.stream.config import BrokerConfig; raise SystemExit(not reachable(BrokerConfig()))"; then \
		$(BIN)/python -m bench.run_stream; \
	else echo "bench.run_stream skipped: no MQTT broker at 127.0.0.1:1883"; fi

.PHONY: notebooks
notebooks: $(STAMP) ## Open the notebooks in JupyterLab (installs the `notebooks` extra once; reads $(WORKSPACE))
	@$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(BIN)/pip install --quiet -e '.[dev,notebooks]'
	$(BIN)/jupyter lab --notebook-dir notebooks

.PHONY: mlflow-ui
mlflow-ui: $(STAMP) ## Browse runs and the model registry of the workspace (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(GRIDML_WORKSPACE)/mlflow.db --port 5000

.PHONY: clean
clean: ## Remove the generated workspace (feeds, tables, stores)
	rm -rf $(WORKSPACE)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
