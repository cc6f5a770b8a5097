# The two commands a newcomer needs are `make dev` and `make test` (README).
PYTHON      ?= python3
VENV        ?= venv
PY          := $(VENV)/bin/python
STACK       ?= dev
# dev runs on a local Pulumi backend kept outside the repository.
export PULUMI_BACKEND_URL ?= file://$(HOME)/.pulumi-minio-platform

# MinIO and mc for the integration tier, built from source (community MinIO is source-only) at
# pinned module versions: `go install ...@latest` resolved on 2026-11-25. Cached outside the repo.
TOOLS_DIR     ?= $(HOME)/.cache/minio-platform/tools
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION    := v0.0.0-20250313080218-cf909e1063a9
MINIO_BIN     := $(TOOLS_DIR)/minio-$(MINIO_VERSION)/minio
MC_BIN        := $(TOOLS_DIR)/mc-$(MC_VERSION)/mc
# actionlint validates the GitHub workflows in the test command.
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT_BIN     := $(TOOLS_DIR)/actionlint-$(ACTIONLINT_VERSION)/actionlint
export MINIO_PLATFORM_MINIO      := $(MINIO_BIN)
export MINIO_PLATFORM_MC         := $(MC_BIN)
export MINIO_PLATFORM_ACTIONLINT := $(ACTIONLINT_BIN)
# alloycheck (tools/alloycheck, this project's own Go) runs the rendered Alloy pipeline in tests.
ALLOYCHECK_SRC := $(wildcard tools/alloycheck/*.go) tools/alloycheck/go.mod tools/alloycheck/go.sum
ALLOYCHECK_BIN := $(CURDIR)/build/tools/alloycheck
export MINIO_PLATFORM_ALLOYCHECK := $(ALLOYCHECK_BIN)
# s3load (tools/s3load, this project's own Go on minio-go) is the benchmarks' load generator.
S3LOAD_SRC := $(wildcard tools/s3load/*.go) tools/s3load/go.mod tools/s3load/go.sum
S3LOAD_BIN := $(CURDIR)/build/tools/s3load
export MINIO_PLATFORM_S3LOAD := $(S3LOAD_BIN)
# The benchmarks read MinIO's sample nginx.conf from this module version's source (Go's module cache).
export MINIO_PLATFORM_MINIO_VERSION := $(MINIO_VERSION)
export MINIO_PLATFORM_MC_VERSION    := $(MC_VERSION)

# Local images (images/build.sh): MinIO and mc from the pinned sources above (community MinIO
# publishes no images), and the e2e tier's stand-ins for NGINX and Keycloak, all FROM a Debian base
# made with debootstrap. Tagged with this project's own names.
IMAGES_CACHE     ?= $(HOME)/.cache/minio-platform/images
BASE_IMAGE       ?= minio-platform/debian:bookworm
KEYCLOAK_VERSION := 26.7.3
MINIO_IMAGE      := minio-platform/minio:$(subst v0.0.0-,source-,$(MINIO_VERSION))
NGINX_IMAGE      := minio-platform/nginx:1.22-bookworm
KEYCLOAK_IMAGE   := minio-platform/keycloak:$(KEYCLOAK_VERSION)
SIGNIN_IMAGE     := minio-platform/signin:1
# The backup service (day2/, `python -m day2 serve`), when the stack has backup schedules.
BACKUP_IMAGE     := minio-platform/backup:1
# Prometheus and Alertmanager from Debian bookworm's packages (observability.mode metrics in e2e).
PROMETHEUS_IMAGE   := minio-platform/prometheus:2.42-bookworm
ALERTMANAGER_IMAGE := minio-platform/alertmanager:0.25-bookworm
export MINIO_PLATFORM_MINIO_IMAGE    := $(MINIO_IMAGE)
export MINIO_PLATFORM_NGINX_IMAGE    := $(NGINX_IMAGE)
export MINIO_PLATFORM_KEYCLOAK_IMAGE := $(KEYCLOAK_IMAGE)
export MINIO_PLATFORM_SIGNIN_IMAGE   := $(SIGNIN_IMAGE)
export MINIO_PLATFORM_BACKUP_IMAGE   := $(BACKUP_IMAGE)
export MINIO_PLATFORM_BASE_IMAGE     := $(BASE_IMAGE)
export MINIO_PLATFORM_PROMETHEUS_IMAGE   := $(PROMETHEUS_IMAGE)
export MINIO_PLATFORM_ALERTMANAGER_IMAGE := $(ALERTMANAGER_IMAGE)
# Keycloak's distribution (Maven Central): the Keycloak image's content, and the integration tier's
# Keycloak on loopback (the sign-in bridge's tests).
KEYCLOAK_ZIP     := $(IMAGES_CACHE)/keycloak-quarkus-dist-$(KEYCLOAK_VERSION).zip
export MINIO_PLATFORM_KEYCLOAK_DIST := $(KEYCLOAK_ZIP)

.PHONY: dev up python-provider info render docs dashboards test bench lint tools images signin-image keycloak-dist clean host-down own-volumes

# The policy pack runs in a virtualenv of its own (policies/pack/PulumiPolicy.yaml).
PACK_VENV := policies/pack/venv
$(PACK_VENV)/.installed: policies/pack/requirements.txt
	$(PYTHON) -m venv $(PACK_VENV)
	$(PACK_VENV)/bin/python -m pip install --quiet -r policies/pack/requirements.txt
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt signin/requirements.txt day2/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The main job: the dev stack with `pulumi up` on a local backend when a Pulumi CLI and a Docker
# engine are at hand and every image the stack runs is there or pullable (synth/preflight.py);
# otherwise the offline synth of the same stack, with the reason. The sign-in bridge's image, which
# no registry has, is built first when Docker lacks it (`make signin-image` rebuilds a changed one).
dev: $(VENV)/.installed
	@if ! command -v pulumi >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then \
		echo "make dev: no Pulumi CLI or no reachable Docker engine here; running the offline synth instead."; \
		$(MAKE) render STACK=dev; \
	elif ! docker image inspect $(SIGNIN_IMAGE) >/dev/null 2>&1 && ! $(MAKE) --no-print-directory signin-image; then \
		echo "make dev: the console's sign-in bridge image could not be built; running the offline synth instead."; \
		$(MAKE) render STACK=dev; \
	elif ! $(PY) -m synth.preflight --stack dev; then \
		echo "make dev: the dev stack cannot deploy here without those images; running the offline synth instead."; \
		$(MAKE) render STACK=dev; \
	else \
		$(MAKE) up STACK=dev; \
	fi

# The e2e tier deploys through this same target (tests/e2e): UP_FLAGS and CONFIG_FILE let it run
# unattended on its own stack file, LOGIN=0 leaves the operator's current `pulumi login` alone.
UP_FLAGS    ?=
CONFIG_FILE ?=
LOGIN       ?= 1
up: $(VENV)/.installed python-provider
	@# Pulumi refuses to log in to a file:// backend whose folder does not exist yet.
	@case "$(PULUMI_BACKEND_URL)" in file://*) mkdir -p "$(patsubst file://%,%,$(PULUMI_BACKEND_URL))";; esac
	@if [ "$(LOGIN)" = 1 ]; then pulumi login "$(PULUMI_BACKEND_URL)"; fi
	pulumi stack select --create $(STACK)
	@# --refresh: read the containers first, so one stopped outside Pulumi is started again.
	pulumi up --refresh --stack $(STACK) $(if $(CONFIG_FILE),--config-file $(CONFIG_FILE)) $(UP_FLAGS)
	@$(MAKE) --no-print-directory info STACK=$(STACK)

# Several hosts: forget a host marked down (hosts[].down: true) in the state, so `pulumi up` can run
# without its daemon. The state alone changes: its containers and volumes stay on the host. --force:
# prod protects the volumes, and only their record is removed.
host-down: $(VENV)/.installed
	@test -n "$(HOST)" || { echo "usage: make host-down STACK=<stack> HOST=<host name>" >&2; exit 2; }
	pulumi state delete --stack $(STACK) --yes --force --target-dependents \
	  'urn:pulumi:$(STACK)::minio-platform::minio-platform:index:Platform$$pulumi:providers:docker::minio-docker-$(HOST)'

# MinIO nodes run as the image's minio user (1001:0) since #30; a stack's drives and log queues made
# before are root's, and a node cannot write them. Hand them over once, nodes stopped, before
# `pulumi up` (docs/security.md). On the Docker host of DOCKER_HOST (several hosts: once per host).
# Only CHOWN, DAC_READ_SEARCH and FOWNER, no network; a volume a running container uses is refused.
NODE_VOLUME_RE := ^minio[0-9]+-(data[0-9]*|log-queue)$$
own-volumes:
	@volumes=$$(docker volume ls -q --filter label=com.minio-platform.stack=$(STACK) | grep -E '$(NODE_VOLUME_RE)'); \
	test -n "$$volumes" || { echo "own-volumes: no MinIO node volume of stack $(STACK) on this Docker host" >&2; exit 1; }; \
	for volume in $$volumes; do \
		users=$$(docker ps -q --filter "volume=$$volume"); \
		test -z "$$users" || { echo "own-volumes: $$volume is in use by a running container: stop the nodes first (docker stop $$(docker ps --format '{{.Names}}' --filter "volume=$$volume"))" >&2; exit 1; }; \
	done; \
	for volume in $$volumes; do \
		docker run --rm --network none --user 0 --cap-drop ALL --cap-add CHOWN --cap-add DAC_READ_SEARCH \
			--cap-add FOWNER --entrypoint chown -v "$$volume:/v" $(MINIO_IMAGE) -R 1001:0 /v || exit 1; \
		echo "own-volumes: $$volume now belongs to minio (1001:0)"; \
	done

# Dynamic providers (components/layout_guard.py, the pool layout guard) run under
# pulumi-resource-pulumi-python, a script Pulumi's release archives ship beside the CLI. A CLI built
# from source (../shared/pulumi-engine/build.sh) lacks it: install the one of the CLI's own version
# from Pulumi's SDK module (Go's module cache) next to it. Nothing happens when it is there.
python-provider:
	@cli=$$(command -v pulumi) || exit 0; dir=$$(dirname "$$cli"); \
	if [ ! -x "$$dir/pulumi-resource-pulumi-python" ] && ! command -v pulumi-resource-pulumi-python >/dev/null; then \
		version=$$(pulumi version) && \
		sdk=$$(go mod download -json "github.com/pulumi/pulumi/sdk/v3@$$version" 2>/dev/null \
			| $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["Dir"])' 2>/dev/null) && \
		install -m 0755 "$$sdk/python/dist/pulumi-resource-pulumi-python" "$$dir/" && \
		echo "installed pulumi-resource-pulumi-python $$version beside $$cli" || \
		echo "warning: no pulumi-resource-pulumi-python beside $$cli and none could be installed from Pulumi's SDK module: the pool layout guard (a dynamic provider) cannot run" >&2; \
	fi

# What the stack gave you: URLs and how to sign in. Reads the outputs without their secrets.
info: $(VENV)/.installed
	@pulumi stack output --json --stack $(STACK) | $(PY) -m day2 summary --stack $(STACK)

render: $(VENV)/.installed
	$(PY) -m synth --stack $(STACK)

# docs/configuration.md is generated from the settings models; tests/test_docs.py checks it.
docs: $(VENV)/.installed
	$(PY) -m synth.reference --write

# The Grafana dashboard's JSON, generated from dashboards/overview.py (a test fails when stale).
dashboards: $(VENV)/.installed
	$(PY) -m dashboards.overview --write

tools: $(MINIO_BIN) $(MC_BIN) $(ACTIONLINT_BIN) $(ALLOYCHECK_BIN) $(S3LOAD_BIN)

$(MINIO_BIN):
	GOBIN=$(dir $@) CGO_ENABLED=0 go install -trimpath github.com/minio/minio@$(MINIO_VERSION)

$(MC_BIN):
	GOBIN=$(dir $@) CGO_ENABLED=0 go install -trimpath github.com/minio/mc@$(MC_VERSION)

$(ACTIONLINT_BIN):
	GOBIN=$(dir $@) CGO_ENABLED=0 go install -trimpath github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

$(ALLOYCHECK_BIN): $(ALLOYCHECK_SRC)
	cd tools/alloycheck && CGO_ENABLED=0 go build -trimpath -o $@ .

$(S3LOAD_BIN): $(S3LOAD_SRC)
	cd tools/s3load && CGO_ENABLED=0 go build -trimpath -o $@ .

keycloak-dist: $(KEYCLOAK_ZIP)

$(KEYCLOAK_ZIP):
	mkdir -p $(dir $@)
	mvn -q dependency:copy -Dartifact=org.keycloak:keycloak-quarkus-dist:$(KEYCLOAK_VERSION):zip -DoutputDirectory=$(dir $@)

images: $(MINIO_BIN) $(MC_BIN) $(VENV)/.installed
	PIP="$(PY) -m pip" MINIO_BIN=$(MINIO_BIN) MC_BIN=$(MC_BIN) MINIO_VERSION=$(MINIO_VERSION) MC_VERSION=$(MC_VERSION) \
	MINIO_IMAGE=$(MINIO_IMAGE) NGINX_IMAGE=$(NGINX_IMAGE) KEYCLOAK_IMAGE=$(KEYCLOAK_IMAGE) SIGNIN_IMAGE=$(SIGNIN_IMAGE) \
	BACKUP_IMAGE=$(BACKUP_IMAGE) PROMETHEUS_IMAGE=$(PROMETHEUS_IMAGE) ALERTMANAGER_IMAGE=$(ALERTMANAGER_IMAGE) \
	KEYCLOAK_VERSION=$(KEYCLOAK_VERSION) BASE_IMAGE=$(BASE_IMAGE) IMAGES_CACHE=$(IMAGES_CACHE) \
	images/build.sh $(IMAGES)

# The console's sign-in bridge (signin/): the one image the dev stack needs that no registry has.
signin-image: $(VENV)/.installed
	PIP="$(PY) -m pip" SIGNIN_IMAGE=$(SIGNIN_IMAGE) BASE_IMAGE=$(BASE_IMAGE) IMAGES_CACHE=$(IMAGES_CACHE) \
	images/build.sh signin

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The e2e tier (tests/e2e) runs when a Pulumi CLI and a Docker engine are here: build its images.
test: lint $(ALLOYCHECK_BIN) $(S3LOAD_BIN) $(PACK_VENV)/.installed
	@if command -v mvn >/dev/null 2>&1; then $(MAKE) --no-print-directory keycloak-dist; fi
	@if command -v pulumi >/dev/null 2>&1 && docker info >/dev/null 2>&1; then $(MAKE) --no-print-directory images; fi
	$(PY) -m pytest

# Every benchmark, side by side with its alternative: build/bench/report.md and report.json.
# QUICK=1 is a smoke of the same code in under 2 minutes (the test tier runs it); its figures are
# not to be quoted. The deploy rows need the Pulumi CLI, Docker and `make images`.
bench: $(VENV)/.installed $(MINIO_BIN) $(MC_BIN) $(S3LOAD_BIN)
	@if command -v pulumi >/dev/null 2>&1 && docker info >/dev/null 2>&1; then $(MAKE) --no-print-directory images; fi
	$(PY) -m bench $(if $(filter 1,$(QUICK)),--quick)

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis
