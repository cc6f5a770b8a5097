# The two commands a newcomer needs are `make dev` and `make test` (README).
PYTHON      ?= python3
VENV        ?= venv
PY          := $(VENV)/bin/python
STACK       ?= dev
# dev runs on a local Pulumi backend kept outside the repository.
export PULUMI_BACKEND_URL ?= file://$(HOME)/.pulumi-minio-platform

.PHONY: dev up render test lint unit clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The main job: the dev stack with `pulumi up` on a local backend when a Pulumi CLI and a Docker
# engine are at hand; otherwise the offline synth of the same stack, with the reason.
dev: $(VENV)/.installed
	@if command -v pulumi >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
		$(MAKE) up STACK=dev; \
	else \
		echo "make dev: no Pulumi CLI or no reachable Docker engine here; running the offline synth instead."; \
		$(MAKE) render STACK=dev; \
	fi

up: $(VENV)/.installed
	pulumi login "$(PULUMI_BACKEND_URL)"
	pulumi stack select --create $(STACK)
	pulumi up --stack $(STACK)

render: $(VENV)/.installed
	$(PY) -m synth --stack $(STACK)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis
