# Two commands set up a fresh machine: `make run` (the product) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv lint typecheck checks pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	$(BIN)/python manage.py bootstrap
	HOST=$(HOST) PORT=$(PORT) ./bin/run-dev

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy .

checks: venv
	$(BIN)/python manage.py makemigrations --check --dry-run
	MARROWFIND_PROFILE=production SECRET_KEY=check-deploy-only-$$(date +%s)-not-a-real-secret-key-0123456789abcdef \
		ALLOWED_HOSTS=marrowfind.example DATABASE_URL=sqlite:///var/check.sqlite3 \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

pytest: venv
	$(BIN)/pytest

test: lint typecheck checks pytest

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
