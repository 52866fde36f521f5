# Forecast 2.0 — the two commands of the README, and a few more.
#   make demo   set everything up, materialize the sample week on the embedded default
#   make test   set everything up, run the whole test suite (what CI runs)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STATE := $(CURDIR)/.forecast
export DAGSTER_HOME ?= $(STATE)/dagster_home
SAMPLE_WEEK ?= 2024-10-01...2024-10-07
PYTEST_ARGS ?=

MONGO_STATE := $(STATE)/mongo

.PHONY: demo test test-fast test-year lint format lock stress ui install sample-data mongo-start mongo-stop bench bench-quick clean

# The versions of requirements.lock (`make lock` re-pins them after a change to pyproject.toml).
$(BIN)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[local,test]"
	touch $@

install: $(BIN)/.installed

# Without MONGO_URI the run starts the embedded SecantusDB server (.forecast/mongo); stop it after.
demo: install
	mkdir -p "$(DAGSTER_HOME)"
	cp deploy/local/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	cd $(CURDIR) && $(BIN)/dagster asset materialize -m forecast_assets.definitions \
		--select '*' --partition-range $(SAMPLE_WEEK); \
	status=$$?; $(BIN)/python -m forecast_assets.mongo.embedded_server stop --state-dir $(MONGO_STATE) >/dev/null; \
	exit $$status
	@echo
	@echo "Sample week $(SAMPLE_WEEK) materialized."
	@echo "  raw landing:   $(STATE)/staging/raw/<source>/<DDMMYY>/*.jsonl  (rejects under raw/_rejects/)"
	@echo "  weather_data:  $(STATE)/staging/Transform/<DDMMYY>/weather_data.jsonl + .quality.json"
	@echo "  MongoDB:       weather_db.weather_measurements (embedded server data in $(MONGO_STATE);"
	@echo "                 make mongo-start prints its URI for mongosh / pymongo)"
	@echo "  run history:   DAGSTER_HOME=$(DAGSTER_HOME)"
	@echo "  open the UI:   make ui   (then http://127.0.0.1:3000)"

test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# A generated year through the frozen pre-columnar path and today's, compared day by day (> 10 min).
test-year: install
	$(BIN)/python -m pytest -m year $(PYTEST_ARGS)

test-fast: install lint
	$(BIN)/python -m pytest -m "not integration and not year" $(PYTEST_ARGS)

# ruff (config in pyproject.toml): lint, formatting, and a stale requirements.lock fail `make test`.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python .ci/lock.py --check

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: install
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/python .ci/lock.py

# The concurrency and fault tests, STRESS_ROUNDS times, with a busy process alongside (bench/STRESS.md).
STRESS_ROUNDS ?= 20
stress: install
	$(BIN)/python -m bench.stress --rounds $(STRESS_ROUNDS) -- $(PYTEST_ARGS)

# The UI and the daemon (schedule, alert sensors), on the local instance.
# Partitions end just after the sample data (FORECAST_PARTITIONS_END_DATE) so its days are the ones
# the UI offers; the embedded MongoDB server is stopped when the UI stops (Ctrl-C included).
UI_PARTITIONS_END_DATE ?= 2024-11-01
ui: install
	mkdir -p "$(DAGSTER_HOME)"
	cp deploy/local/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	trap '$(BIN)/python -m forecast_assets.mongo.embedded_server stop --state-dir $(MONGO_STATE) >/dev/null' EXIT; \
	trap 'exit 130' INT TERM; \
	FORECAST_PARTITIONS_END_DATE=$(UI_PARTITIONS_END_DATE) $(BIN)/dagster dev -w workspace.yaml

mongo-start: install
	$(BIN)/python -m forecast_assets.mongo.embedded_server start --state-dir $(MONGO_STATE)

mongo-stop: install
	$(BIN)/python -m forecast_assets.mongo.embedded_server stop --state-dir $(MONGO_STATE)

# Benchmark (issue 6): writes bench/RESULTS.md and bench/results.json (full run ~15 min).
bench: install
	$(BIN)/python -m bench --out bench/RESULTS.md

bench-quick: install
	$(BIN)/python -m bench --quick --out bench/RESULTS.md

sample-data: install
	$(BIN)/python -m forecast_assets.sample_data.generate

clean:
	-$(BIN)/python -m forecast_assets.mongo.embedded_server stop --state-dir $(MONGO_STATE)
	rm -rf $(STATE)
