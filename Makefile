# Frontdesk — every command a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export RASA_TELEMETRY_ENABLED := false

VENV      := .venv
RASA_VENV := .venv-rasa
PY        := $(VENV)/bin/python
RASA      := $(RASA_VENV)/bin/rasa
# What Rasa imports from us (frontdesk.botctl.RASA_PYTHONPATH): channel, NLU components, knowledge.
RASA_PATH := PYTHONPATH=$(CURDIR)/bot/channels:$(CURDIR)/bot/components:$(CURDIR) RASA_TELEMETRY_ENABLED=false
BOT       := bot
# Local commands on a checkout run in development mode unless FRONTDESK_ENV says otherwise
# (the service itself defaults to production; `make run` always asks for development).
LOCAL_ENV := FRONTDESK_ENV=$${FRONTDESK_ENV:-development}

.PHONY: help setup setup-service setup-rasa setup-browser setup-fhir run test test-fast \
        test-rasa test-clock test-faults test-scale setup-haproxy lint format typecheck train test-stories nlu-eval nlu-heldout bench bench-turns bench-sms \
        bench-slots bench-console bench-phi bench-insights eval-kb eval-phi eval-safety eval-conversations kb-ingest-demo \
        lock lock-rasa audit-deps clean

help: ## List the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-19s %s\n", $$1, $$2}'

setup: ## Create or refresh both environments from the lock files (no-op when unchanged)
	@scripts/setup-envs.sh all

setup-service: ## Only the Python >= 3.11 environment (.venv)
	@scripts/setup-envs.sh service

setup-rasa: ## Only the Python 3.10 Rasa environment (.venv-rasa)
	@scripts/setup-envs.sh rasa

setup-browser: ## Debian's chromium for the widget's browser tests (skipped without it, outside CI)
	@scripts/install-browser.sh

setup-haproxy: ## Debian's haproxy, the load balancer of `make test-scale`
	@scripts/install-haproxy.sh

setup-fhir: ## npm packages of the test FHIR server (Medplum's engine; needs Node >= 20)
	@scripts/install-fhir-server.sh

run: setup ## Run the demo on this machine (development mode, loopback only); prints its URL (Ctrl-C stops)
	@$(VENV)/bin/frontdesk run --dev

test: setup setup-fhir lint typecheck ## Lint, type-check, every test (Rasa group too) with a coverage floor, then again with the clock shifted
	@$(PY) -m pytest --cov --cov-report=html:var/coverage
	@scripts/test-shifted-clock.sh

test-clock: setup setup-fhir ## The tests again at 23:30 in New York and a year ahead (libfaketime)
	@scripts/test-shifted-clock.sh

test-faults: setup-service ## Fault suite: outreach and the service killed (kill -9), Rasa stalled or killed, flaky Twilio, quiet hours; prints counts
	@$(PY) -m pytest -m faults tests/faults

test-scale: setup setup-haproxy train ## Scale test: 2 service replicas + 2 Rasa behind HAProxy, 50 SMS/web chat conversations, a staff reply across replicas, one replica killed; prints counts
	@$(PY) -m pytest -m scale tests/scale

test-fast: setup-service ## Tests that need neither Rasa nor a trained model
	@$(PY) -m pytest -m "not rasa"

test-rasa: setup ## Only the Rasa group (trains the model first if bot/ changed)
	@$(PY) -m pytest -m rasa

lint: setup-service ## ruff: lint and formatting check
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: setup-service ## Apply ruff's fixes and formatting
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

typecheck: setup-service ## mypy --strict on frontdesk, connectors, actions, knowledge and tests
	@$(VENV)/bin/mypy

train: setup ## Train the Rasa model if bot/ changed since the cached one
	@$(LOCAL_ENV) $(VENV)/bin/frontdesk train

test-stories: train ## Rasa test stories (bot/tests) against the current model
	@cd var && $(RASA_PATH) ../$(RASA) test core --model "$$($(LOCAL_ENV) ../$(VENV)/bin/frontdesk train)" \
	  --stories ../$(BOT)/tests --out results/stories --fail-on-prediction-errors

nlu-eval: setup-rasa ## NLU 5-fold cross-validation; report in var/results/nlu
	@mkdir -p var/results
	@cd var && $(RASA_PATH) ../$(RASA) test nlu --config ../$(BOT)/config.yml --nlu ../$(BOT)/data/nlu \
	  --cross-validation --folds 5 --out results/nlu
	@$(PY) scripts/nlu_summary.py var/results/nlu/intent_report.json

nlu-heldout: train ## NLU accuracy on bot/eval's English and Spanish held-out and development sets (never trained on)
	@mkdir -p var/results
	@model="$$($(LOCAL_ENV) $(VENV)/bin/frontdesk train)" && cd var && for set in heldout_en dev_en heldout_es dev_es; do \
	  $(RASA_PATH) ../$(RASA) test nlu --model "$$model" --nlu ../$(BOT)/eval/nlu_$${set}.yml \
	    --out results/nlu-$$set > /dev/null 2>&1 || exit 1; \
	  echo "== $$set set ($(BOT)/eval/nlu_$${set}.yml)"; \
	  ../$(PY) ../scripts/nlu_summary.py results/nlu-$$set/intent_report.json; \
	done

bench: setup ## Web chat booking latency (starts Rasa and the service)
	@$(PY) bench/webchat_booking.py

bench-turns: setup ## 20 concurrent conversations via the service vs straight to Rasa: p50/p95, turns/s, CPU per turn
	@$(PY) bench/turns.py

bench-sms: setup-service ## SMS: 10,000 reminders to a local Twilio fake (time, msg/s, duplicates); inbound webhook p50/p95
	@$(PY) bench/reminders.py
	@$(PY) bench/sms_inbound.py

bench-slots: setup-service ## Next-5-open-slots latency and 200-way booking contention (SQLite; PostgreSQL too if FRONTDESK_TEST_POSTGRES_URL)
	@$(PY) bench/next_slots.py
	@$(PY) bench/booking_contention.py

bench-console: setup-service ## Staff console: live-update and escalation latency, queue and page render times
	@$(PY) bench/console_live.py

bench-phi: setup-service ## PHI scrubber: messages/s of the fast path over the evaluation sets
	@$(PY) bench/phi.py

bench-insights: setup-service ## Insights page render times with a year of a busy practice (150,000 conversations)
	@$(PY) bench/insights.py

eval-kb: setup-service ## Knowledge base: top-1/top-3 accuracy, abstention, p95 latency (both document sets, the demo's Spanish documents, then the held-out questions)
	@$(PY) scripts/eval_kb.py --compare
	@$(PY) scripts/eval_kb.py --compare --practice littleoaks
	@$(PY) scripts/eval_kb.py --language es
	@echo "== held-out questions (written before the last tuning round, never tuned against)"
	@$(PY) scripts/eval_kb.py --held-out
	@$(PY) scripts/eval_kb.py --held-out --practice littleoaks
	@$(PY) scripts/eval_kb.py --held-out --language es

eval-phi: setup-service ## PHI scrubber: recall per HIPAA class (en, es), non-PHI words kept, messages/s
	@$(PY) scripts/eval_phi.py

eval-safety: setup-service ## Emergency decision: recall and false alarms on the English and Spanish safety sets
	@$(PY) scripts/eval_safety.py

eval-conversations: setup ## Scripted web chat and SMS conversations against the real stack: pass/fail each, task-success rate
	@$(PY) scripts/eval_conversations.py

kb-ingest-demo: setup-service ## Ingest the demo practice's documents (knowledge/docs/riverside)
	@$(LOCAL_ENV) $(VENV)/bin/frontdesk kb ingest knowledge/docs/riverside --practice riverside

lock: ## Re-freeze requirements/service.lock from the current .venv (after pip install NEW-PACKAGE)
	@$(VENV)/bin/pip freeze --all --exclude-editable | grep -v '^pip==\|^frontdesk' | sort \
	  | sed '1i # Service, actions and tests (Python >= 3.11). Exact versions; regenerate with `make lock`.' \
	  > requirements/service.lock

lock-rasa: ## Re-freeze requirements/rasa.lock from a fresh `pip install rasa==3.6.21`
	@rm -rf /tmp/frontdesk-rasa-lock && "$$(scripts/find-python.sh 3.10)" -m venv /tmp/frontdesk-rasa-lock
	@/tmp/frontdesk-rasa-lock/bin/pip install -q rasa==3.6.21
	@/tmp/frontdesk-rasa-lock/bin/pip freeze --all | grep -v '^pip==' | sort \
	  | sed '1i # Rasa 3.6.21 runtime (Python 3.10). Regenerate with `make lock-rasa`.' > requirements/rasa.lock

audit-deps: ## Known CVEs in both lock files (pip-audit; needs PyPI or AUDIT_SERVICE=osv online; not in make test)
	@scripts/audit-deps.sh

clean: ## Remove environments, caches and local state (var/)
	rm -rf $(VENV) $(RASA_VENV) var .mypy_cache .ruff_cache .pytest_cache
