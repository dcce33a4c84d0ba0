# Two commands for a fresh machine (see README):
#   make demo   set up .venv and run the main job on the built-in default
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp reinstalls only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,corpus]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/rnnlab demo

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
