# Two entry points for a new machine (see README):
#   make demo   install into .venv and run the whole workflow on config/config.yaml
#   make test   install into .venv and run lint + the test suite
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: demo test install lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: install
	snakemake --cores $(CORES)
	snakemake --report report.html

lint: install
	snakemake --lint

test: lint
	python -m pytest -q tests

clean:
	rm -rf results .snakemake
