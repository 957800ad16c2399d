VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
FAST := not slow and not server and not tmpfs and not wheel and not browser

.PHONY: install ocr-engine run lint test test-fast test-slow clean

install: $(STAMP)

$(STAMP): pyproject.toml
	# PyICU (transliteration) compiles against the system ICU.
	pkg-config --exists icu-i18n || apt-get install -y -qq libicu-dev pkg-config g++ \
		|| echo "install libicu-dev, pkg-config and g++ (Debian) so that PyICU builds" >&2
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The pinned CPU wheel first: a bare torch requirement pulls a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test,lint,onnx,ray]'
	touch $(STAMP)

# Tesseract (English, Russian) and poppler's pdftoppm read scanned PDFs and images (docs/formats.md).
# apt-get needs root; without it the scans are skipped with a warning naming these packages.
OCR_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus poppler-utils
ocr-engine:
	@(tesseract --list-langs 2>/dev/null | grep -qx rus) && command -v pdftoppm >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(OCR_PACKAGES) >/dev/null) || \
	  echo "warning: could not install $(OCR_PACKAGES); scanned documents will be skipped" >&2

# Serve the demo corpus on http://127.0.0.1:8000/ (builds the index first when there is none).
run: install ocr-engine
	test -e state/index/manifest.json || $(VENV)/bin/statement-search rebuild-index --corpus data/statements --index state/index
	@echo "statement-search: open http://127.0.0.1:8000/ (Ctrl-C stops)"
	$(VENV)/bin/statement-search serve --index state/index --host 127.0.0.1 --port 8000

# ruff (style, imports, likely bugs) and mypy (types) on the library; settings in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check index search web
	$(VENV)/bin/mypy index search web

test: install
	$(VENV)/bin/python -m pytest -q

# The quick loop while editing: no server, tmpfs, wheel or browser tests (make test runs them all).
test-fast: install
	$(VENV)/bin/python -m pytest -q -m "$(FAST)"

test-slow: install
	$(VENV)/bin/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) state build *.egg-info
