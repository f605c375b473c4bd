# The two commands of a fresh machine: `make quickstart` (the main job) and `make test`.
# Both create .venv from requirements.lock first, so a missing install step fails here, not for a user.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

.PHONY: install quickstart test lint lock bench clean

install: $(VENV)/.installed

# uv installs the ~2.8 GB stack in seconds where pip takes minutes; it is bootstrapped into the venv
# so nothing outside the project is touched. Re-runs only when the lock or pyproject changes.
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e ".[dev]"
	touch $@

# The main job on embedded defaults: a short Pix2Pix+TV training on generated data, evaluated and
# logged to MLflow at sqlite:///mlflow.db. (Becomes a small Ray Tune sweep when the sweep lands.)
quickstart: install
	$(BIN)/ganime train experiments/smoke.yaml
	MLFLOW_TRACKING_URI=sqlite:///mlflow.db $(BIN)/ganime evaluate --checkpoint runs/smoke
	@echo "Sample grids (sketch | generated | target): runs/smoke/samples/  checkpoints: runs/smoke/checkpoints/"
	@echo "Browse the evaluation in the MLflow UI: $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000, then open http://127.0.0.1:5000"

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Re-pin the whole stack (CPU and CUDA extras) after changing dependencies in pyproject.toml.
lock: install
	UV_CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/uv pip compile --quiet pyproject.toml --extra dev --extra gpu --extra aws --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements.lock

bench: install
	$(BIN)/python -m bench.train_throughput

clean:
	rm -rf $(VENV) .pytest_cache
