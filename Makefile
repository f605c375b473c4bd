# The two commands of a fresh machine: `make quickstart` (the main job) and `make test`.
# Both create .venv from requirements.lock first, so a missing install step fails here, not for a user.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

.PHONY: install quickstart test test-fast lint lock bench clean

install: $(VENV)/.installed

# uv installs the ~2.8 GB stack in seconds where pip takes minutes; it is bootstrapped into the venv
# so nothing outside the project is touched. Re-runs only when the lock or pyproject changes.
# --compile-bytecode: uv, unlike pip, writes no .pyc files, and where PYTHONDONTWRITEBYTECODE is
# set (Docker images, CI) nothing else does: every process (each Ray worker) would compile
# TensorFlow's Python anew, 17 s of CPU per `import tensorflow` here instead of 5.
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c requirements.lock \
		-e ".[dev]"
	touch $@

# The main job on embedded defaults: a small Ray Tune sweep (Optuna + ASHA) of Pix2Pix+TV on
# generated data, on local Ray, logged to MLflow at sqlite:///mlflow.db; then its best trial is
# promoted to the Model Registry (ganime-pix2pix@champion, behind the held-out gate) and
# colorizes a few generated sketches it never saw (48 px: the model restores their size), shown
# side by side in one PNG. Run again, it continues the same sweep (or, if it finished, prints
# its result again). An interrupted sweep exits non-zero, so nothing after it runs.
QUICKSTART_SKETCHES := runs/colorize/sketches
QUICKSTART_COLORIZED := runs/colorize/colorized
QUICKSTART_SHEET := runs/colorize/side-by-side.png
quickstart: install
	@if [ -f runs/ray/quickstart/ganime-sweep.json ]; then \
		$(BIN)/ganime sweep --resume quickstart; \
	else \
		$(BIN)/ganime sweep experiments/quickstart.yaml; \
	fi
	$(BIN)/ganime promote --sweep quickstart
	@test -d $(QUICKSTART_SKETCHES) || $(BIN)/ganime data synth --sketches-only \
		--out $(QUICKSTART_SKETCHES) --count 8 --size 48 --seed 1 > /dev/null
	$(BIN)/ganime colorize $(QUICKSTART_SKETCHES) -o $(QUICKSTART_COLORIZED) \
		--model models:/ganime-pix2pix@champion --no-progress --sheet $(QUICKSTART_SHEET)
	@echo "colorized sketches: $(QUICKSTART_COLORIZED)/ (from $(QUICKSTART_SKETCHES)/)"
	@echo "sketch | colorization, side by side: $(QUICKSTART_SHEET)"

# Two pytest processes, each taking whole files (a file's tests share its fixtures, e.g. one
# local Ray): a Ray test spends most of its time waiting on start-ups, which the other fills.
PYTEST_PARALLEL := -n 2 --dist loadfile --no-loadscope-reorder

# Everything: unit, integration (a real local Ray, a real MLflow store and server) and CLI tests.
test: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# The developers' fast lane: the tests not marked slow (no training beyond a few seconds, no
# Ray cluster), in under 3 minutes.
test-fast: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow"

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
