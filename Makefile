# Two commands do everything: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Pins apply to build environments too.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: run test lint format install demo-data lock clean-data bench
SIZE ?= S

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python constraints.txt pyproject.toml
	$(BIN)/python -m pip install --quiet "pip==26.3" "setuptools==80.9.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned dependencies

run: $(STAMP) ## run the whole pipeline (demo data are generated when data/01_raw holds no input tables)
	$(BIN)/kedro run

test: $(STAMP) lint ## lint, format check and the full test suite
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP) ## time the default pipeline at SIZE=XS|S|M|L (5k, 100k, 300k, 1M customers), then the side-by-side baselines; ONLY=baselines|features|bg_nbd|scoring reruns one comparison on the last run's outputs; ENGINE=spark times the pipeline on DuckDB then on Spark (--env spark), back to back, recorded beside each other
	$(BIN)/python benchmarks/run.py $(SIZE) $(if $(ONLY),--only $(ONLY)) $(if $(ENGINE),--engine $(ENGINE))

demo-data: $(STAMP) ## regenerate the demo data in data/01_raw (parameters in parameters_demo_data.yml)
	$(BIN)/kedro run --pipeline demo_data

.PHONY: airflow-dag versions
airflow-dag: $(STAMP) ## generate the Airflow DAGs of the retrain and score jobs into airflow/dags (schedules in conf/base/airflow.yml)
	$(BIN)/kedro airflow create --pipelines retrain,score --group-by memory --jinja-file airflow/dag_template.j2 --target-dir airflow/dags

versions: $(STAMP) ## list the churn model versions with their test metrics (* = promoted)
	$(BIN)/python -m customer_retention.model_versions

lock: ## re-resolve and rewrite constraints.txt from pyproject.toml
	rm -rf /tmp/cr-lock && $(PYTHON) -m venv /tmp/cr-lock
	PIP_CONSTRAINT= /tmp/cr-lock/bin/pip install --quiet -e ".[dev,spark]"
	{ echo "# Exact pins for every install (make run / make test / CI). Regenerate with: make lock"; \
	  echo "pip==26.3"; echo "setuptools==80.9.0"; \
	  /tmp/cr-lock/bin/pip freeze --exclude-editable | grep -v -i "^pip==\|^setuptools=="; } > constraints.txt

clean-data: ## remove generated data (keeps the folder layout)
	find data -type f ! -name .gitkeep -delete
	find data -mindepth 2 -type d -empty -delete

.PHONY: viz
viz: $(STAMP) ## build the kedro-viz pipeline map as a static site in build/ (offline; see README "Explore")
	rm -rf build
	$(BIN)/kedro viz build
	@test -s build/api/main || { echo "kedro viz build failed (it exits 0 on errors)"; exit 1; }
	@echo "Serve it with: $(BIN)/python -m http.server -d build 8000, then open http://localhost:8000"

.PHONY: params-doc
params-doc: $(STAMP) ## regenerate README.md's "Parameter reference" from the parameter schema (src/customer_retention/core/parameter_schema.py)
	$(BIN)/python -m customer_retention.core.parameter_schema --write-readme

.PHONY: mlflow-ui
MLFLOW_PORT ?= 5000
MLFLOW_UI_VENV := .venv-mlflow-ui
mlflow-ui: ## the MLflow UI over the project's tracking store (data/09_tracking) on http://127.0.0.1:$(MLFLOW_PORT); the first call installs the UI (full mlflow, its own pins) into .venv-mlflow-ui
	@test -x $(MLFLOW_UI_VENV)/bin/mlflow || { $(PYTHON) -m venv $(MLFLOW_UI_VENV) && \
	  PIP_CONSTRAINT= $(MLFLOW_UI_VENV)/bin/pip install --quiet \
	  "mlflow==$$(sed -n 's/^mlflow-skinny==//p' constraints.txt)"; }
	mkdir -p data/09_tracking/artifacts
	MLFLOW_DISABLE_TELEMETRY=true $(MLFLOW_UI_VENV)/bin/mlflow ui --host 127.0.0.1 --port $(MLFLOW_PORT) \
	  --backend-store-uri sqlite:///$(CURDIR)/data/09_tracking/mlflow.db \
	  --default-artifact-root $(CURDIR)/data/09_tracking/artifacts

.PHONY: report-screenshot
report-screenshot: $(STAMP) ## full-page PNGs of data/08_reporting/report.html, 1400 and 390 px wide, into data/08_reporting/screenshots (needs Chromium or Chrome; CUSTOMER_RETENTION_CHROMIUM=/path/to/chrome picks one)
	$(BIN)/python -m customer_retention.report_screenshot
