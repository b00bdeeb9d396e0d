# Two commands do all the set-up: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.noduleseg-installed

.PHONY: run test install bench fuzz clean

# torch first, pinned to the CPU build on this machine's disk: any other request pulls a
# multi-GB CUDA build. Then the project, editable, with its dev extras.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m noduleseg.core.transfer
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/noduleseg $(ARGS)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

# Seeded damage to real and made scans for every reader (tests/fuzzing.py); `make fuzz N=5000`.
N ?= 5000
fuzz: $(STAMP)
	$(PY) tests/fuzzing.py --cases $(N)

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
