# The two commands of the README: `make run` and `make test`. Both create .venv when missing.
# `make lint`: ruff over the repository and mypy over lang/ (CI runs it before `make test`).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PIP     := $(BIN)/python -m pip
EXAMPLE := examples/campaign/launch.brief
OUT     ?= out

.PHONY: run test lint install install-test bench vsix clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Editable install; the stamp is remade when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e ".[test,diffusers,farm,hosted]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The example catalogue: 2 SKUs x 2 seasons x 2 languages, three formats each, every brand rule
# checked on every format (they pass: exit 0).
run: $(VENV)/.installed
	@$(BIN)/brief build $(EXAMPLE) --out $(OUT)
	@echo "Built $(EXAMPLE) with the draft backend: 8 variants in $(OUT)/launch[...]/, each with square.png, a story JPEG, a banner WebP, layers/, report.html and manifest.json."
	@echo "Check them: $(BIN)/brief verify-layers $(OUT)   and   $(BIN)/brief verify --trust test $(OUT)/*/*.jpg"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadgroup

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m mypy

bench: $(VENV)/.installed
	$(BIN)/python bench/compile.py
	$(BIN)/python bench/startup.py --no-diffusers
	$(BIN)/python bench/incremental.py --process
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/lsp.py

# The VS Code extension's .vsix (editors/vscode), from its lockfile with @vscode/vsce: needs Node.js 20+.
vsix:
	scripts/package_vscode.sh

clean:
	rm -rf $(OUT) build dist *.egg-info .pytest_cache
