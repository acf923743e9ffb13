# madoguchi — two commands on a fresh clone:
#   make run    install what is missing, train if the data changed, start the stack (SQLite)
#   make test   install what is missing and run every test
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY310 ?= $(shell command -v python3.10 2>/dev/null || ls -1d $$HOME/.pyenv/versions/3.10*/bin/python3.10 2>/dev/null | tail -1)
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export RASA_TELEMETRY_ENABLED := false

HOST ?= 127.0.0.1
RASA_PORT ?= 5005
ACTIONS_PORT ?= 5055
STAFF_PORT ?= 8000

DEPS_HASH := $(shell cat pyproject.toml constraints.txt 2>/dev/null | sha256sum | cut -c1-12)
DEPS_STAMP := $(VENV)/.deps-$(DEPS_HASH)
# The model is keyed on everything that changes what it predicts.
# (The age extractor and the crisis lexicon act at prediction time only: editing them needs no retraining.)
MODEL_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' | sort) bot/rasa_plugins/components.py \
	bot/rasa_plugins/crisis_policy.py bot/language/normaliser.py
MODEL_HASH := $(shell cat $(MODEL_INPUTS) 2>/dev/null | sha256sum | cut -c1-12)
MODEL := models/madoguchi-$(MODEL_HASH).tar.gz

.PHONY: help install model run test test-py lint validate test-stories nlu-cv nlu-cv-reference check-directory eval \
	safety-report purge staff-user bench fuzz soak clean stop line-richmenu telegram-set-webhook telegram-polling test-reliability test-production \
	run-production db-upgrade db-revision

help:
	@echo "make run            install, train if needed, start Rasa + actions + staff app (SQLite)"
	@echo "make test           install and run every test"
	@echo "make lint           ruff (lint, format check), mypy and the import contract"
	@echo "make check-directory  list the directory entries that are 要設定"
	@echo "make eval           every case in tests/conversations/ through a running make run (REST)"
	@echo "make safety-report  crisis detection recall / false positives"
	@echo "make purge          delete data past retention"
	@echo "make bench / fuzz / soak   benchmark, deep property tests, endurance run"
	@echo "make run-production two Rasa replicas + actions behind nginx on PostgreSQL + Redis"
	@echo "make db-upgrade     bring MADOGUCHI_DB_URL's database to the newest migration (an older one too)"
	@echo "make db-revision MSG=...  a new migration by autogenerate, from the models (docs/deploy.md)"

$(PY):
	@test -n "$(PY310)" || { echo "Python 3.10 is required (pyenv install 3.10)"; exit 1; }
	$(PY310) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<25" "setuptools==70.3.0" wheel

$(DEPS_STAMP): | $(PY)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	rm -f $(VENV)/.deps-* && touch $@

install: $(DEPS_STAMP)

$(MODEL): $(DEPS_STAMP) $(MODEL_INPUTS)
	@mkdir -p models && mkdir -p -m 700 var
	@echo "Training model $(MODEL) …"
	@start=$$(date +%s); \
	$(RASA) train --fixed-model-name madoguchi-$(MODEL_HASH) --out models --quiet && \
	echo "Training took $$(( $$(date +%s) - start )) s" | tee var/last-training.txt

model: $(MODEL)

# umask 077: var/, the databases and the logs are the user's only (docs/security.md).
# scripts/run_stack.sh upgrades the database to the migrations' head before it starts anything.
run: $(MODEL)
	@umask 077; bash scripts/run_stack.sh "$(MODEL)"

# The schema (issue 19): Alembic migrations in bot/store/migrations (docs/deploy.md, "Schema migrations").
db-upgrade: $(DEPS_STAMP)
	@umask 077; $(PY) -m bot.store.migrations upgrade

db-revision: $(DEPS_STAMP)
	@test -n "$(MSG)" || { echo 'usage: make db-revision MSG="add the ticket source"'; exit 2; }
	$(PY) -m bot.store.migrations revision -m "$(MSG)"

# The stack of `make run` in another terminal: supervisord stops its processes (so none is restarted).
stop:
	@-test -S var/run/supervisor.sock && $(VENV)/bin/supervisorctl -c var/run/supervisord.conf shutdown ; true

# The model is trained inside .ci/test_all.sh, beside the stages that need none.
test: $(DEPS_STAMP)
	@bash .ci/test_all.sh "$(MODEL)"

test-py: $(DEPS_STAMP)
	$(PY) -m pytest -q --ignore=tests/reliability --ignore=tests/production

# Faults injected into real processes (action server killed, database locked, Rasa restarted…).
test-reliability: $(MODEL)
	bash scripts/services.sh
	MADOGUCHI_MODEL=$(MODEL) $(PY) -m pytest -q -p no:cacheprovider tests/reliability

# The production configuration on this machine: two Rasa replicas + the action server behind
# nginx, on the local PostgreSQL and Redis (docs/deploy.md). Balancer on 127.0.0.1:$${LB_PORT:-8080}.
# deploy/run_two_instances.sh runs deploy.init_db first: the database at the migrations' head
# before either replica starts.
PRODUCTION_ENV ?= deploy/production.env
run-production: $(MODEL)
	bash scripts/services.sh
	bash scripts/ensure_debian_packages.sh
	$(PY) -m deploy.local_env $(PRODUCTION_ENV)
	set -a; . ./$(PRODUCTION_ENV); set +a; umask 077; INIT_DB_ARGS=--create-database bash deploy/run_two_instances.sh "$(MODEL)"

# Two Rasa instances behind a balancer on the local PostgreSQL and Redis.
test-production: $(MODEL)
	bash scripts/services.sh
	MADOGUCHI_MODEL=$(MODEL) $(PY) -m pytest -q -p no:cacheprovider tests/production

# The conversation evaluation against a running `make run` (figures + history; EVAL_ARGS=--gate -v).
eval: $(DEPS_STAMP)
	$(PY) -m tests.conversations.evaluate --url http://127.0.0.1:$(RASA_PORT) $(EVAL_ARGS)

lint: $(DEPS_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/architecture/test_layers.py

validate: $(DEPS_STAMP)
	$(RASA) data validate --fail-on-warnings --quiet

test-stories: $(MODEL)
	bash scripts/test_stories.sh "$(MODEL)"

nlu-cv: $(DEPS_STAMP)
	$(PY) -m tools.nlu_eval --folds 3

# The 2-fold result `make test` prints, kept in tests/data/nlu-cv/ for the committed NLU (commit it
# with a change to data/nlu, config.yml or the pipeline's code, or make test cross-validates again).
nlu-cv-reference: $(MODEL)
	MADOGUCHI_MODEL=$(MODEL) $(PY) -m tools.nlu_eval --folds 2 --keep

check-directory: $(DEPS_STAMP)
	$(PY) -m bot.domain.directory

safety-report: $(DEPS_STAMP)
	$(PY) -m tools.safety_report

purge: $(DEPS_STAMP)
	$(PY) -m bot.services.purge

staff-user: $(DEPS_STAMP)
	$(PY) -m staff.users create

# Benchmark (not a test): capacity, latency, RSS, cold start, training, NLU pipelines side by side.
bench: $(MODEL)
	MADOGUCHI_MODEL=$(MODEL) $(PY) -m bench $(BENCH_ARGS)

# Hypothesis properties with ≥10,000 examples in all.
fuzz: $(DEPS_STAMP)
	$(PY) -m tests.fuzz

# Endurance: 10,000 turns from 200 simulated LINE users; memory must stay flat.
soak: $(MODEL)
	MADOGUCHI_MODEL=$(MODEL) $(PY) -m bench.soak $(SOAK_ARGS)

line-richmenu: $(DEPS_STAMP)
	$(PY) -m channels.richmenu

telegram-set-webhook: $(DEPS_STAMP)
	@test -n "$(URL)" || { echo "usage: make telegram-set-webhook URL=https://your.host/webhooks/telegram/webhook"; exit 2; }
	$(PY) -m channels.telegram_admin set-webhook "$(URL)"

telegram-polling: $(DEPS_STAMP)
	$(PY) -m channels.telegram_admin poll

clean:
	rm -rf models results .pytest_cache
