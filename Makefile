# Two entry points for a new machine (see README):
#   make demo   install into .venv and run the whole workflow on config/config.yaml
#   make test   install into .venv and run lint + the test suite
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: demo test install lint slurm-tools clean

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

# Debian's slurm-wlm and munge, for tests/test_slurm.py (a private SLURM on this machine); where they cannot
# be installed (not root, no apt) that test is skipped and says why
SLURM_PACKAGES := slurm-wlm munge
slurm-tools:
	@if command -v slurmctld >/dev/null && command -v munged >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(SLURM_PACKAGES) with apt-get for tests/test_slurm.py"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -qq $(SLURM_PACKAGES) || { apt-get update -qq && apt-get install -y -qq $(SLURM_PACKAGES); }; } \
	    >/dev/null 2>&1 || echo "apt-get could not install $(SLURM_PACKAGES): tests/test_slurm.py will be skipped"; \
	else echo "$(SLURM_PACKAGES) missing and not installable here (needs root and apt-get): tests/test_slurm.py will be skipped"; fi

test: lint slurm-tools
	python -m pytest -q tests

clean:
	rm -rf results .snakemake
