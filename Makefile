VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install run test test-slow bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The pinned CPU wheel first: a bare torch requirement pulls a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test,onnx]'
	touch $(STAMP)

run: install
	$(VENV)/bin/statement-search serve --build-if-missing

test: install
	$(VENV)/bin/python -m pytest -q

test-slow: install
	$(VENV)/bin/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) state build *.egg-info
