# dasklab: a real Dask cluster in Docker Compose, and scenarios that exercise it.
# `make` lists the targets. Everything a target needs is built on demand and
# cached: a second `make up` builds and downloads nothing.

.DEFAULT_GOAL := help
SHELL := /bin/bash
COMPOSE ?= docker compose
PY := .venv/bin/python
BOOT := images/bootstrap
# Keep in step with the store's image tag in docker-compose.yml.
GARAGE_VERSION := 2.5.0
export GARAGE_VERSION
# The host client reads the same Dask config as the containers.
export DASK_CONFIG := $(CURDIR)/compose/dask.yaml
# Passed on to the bootstrap scripts when given (make up BASE_IMAGE=...).
export BASE_IMAGE PYTHON

.PHONY: help up preflight certs restart down notebook notebook-stop clean ps logs objects s3-env check-env image-extra image-rogue scenarios chaos test test-repeat test-unit \
        swarm-up swarm-scale swarm-down hosts-up hosts-status hosts-down k8s-manifests bench-startup bench-idle bench-s3 bench-recovery bench-spill bench-faults bench-scaling bench-scoring \
        images base-image garage-binary venv env prereqs browser lock

##@ Cluster
up: preflight prereqs images ## Start the cluster (builds what is missing), wait until healthy, print endpoints
	@$(PY) -m scenarios.admin.certs --if-tls
	@echo "[up] starting the cluster ..."
	@# Waits for each service's own healthcheck, run by the lab (dasklab/backends/compose/project.py).
	@if ! $(PY) -m dasklab.backends.compose.project up; then \
	  echo "[up] ERROR: the cluster did not come up (the words above). What exists now:" >&2; \
	  $(COMPOSE) ps -a --format 'table {{.Service}}\t{{.State}}\t{{.Status}}' >&2; \
	  echo "[up] \`make logs s=<service>\` shows why; \`make down\` removes these containers (volumes are kept)." >&2; \
	  exit 1; fi
	@$(PY) -m dasklab.objects ensure
	@$(PY) -m dasklab.status

preflight: ## Check ports, network, engine, disk and settings before `make up` builds or starts anything
	@python3 -m dasklab.backends.compose.preflight

restart: prereqs env ## Restart every container (code under dasklab/ and scenarios/ is re-imported), wait until healthy
	@$(PY) -m scenarios.admin.certs --if-tls
	@$(COMPOSE) restart
	@$(PY) -m dasklab.backends.compose.project up
	@$(PY) -m dasklab.status

certs: venv ## Make (or renew) the private CA and the TLS certificates in build/certs (TLS=on uses them)
	@$(PY) -m scenarios.admin.certs $(ARGS)

down: notebook-stop ## Stop and remove the cluster's containers (volumes are kept, but for elastic workers' scratch volumes); stop JupyterLab
	@$(COMPOSE) down --remove-orphans
	@# ComposeCluster's workers: compose removes their containers (they carry its
	@# labels) but not their anonymous volumes, which nothing would use again.
	@docker volume prune -f --filter label=dasklab.elastic=dasklab >/dev/null

clean: ## Remove containers, volumes and the project's images
	@if docker compose version >/dev/null 2>&1 && [ -f .env ]; then $(COMPOSE) down -v --remove-orphans; fi
	@# Built images (and older builds left untagged) first, then the base they use.
	@ids="$$(docker images -q --filter label=dasklab.inputs; docker images -q --filter label=dasklab.stage)"; \
	  if [ -n "$$ids" ]; then docker rmi -f $$(echo "$$ids" | sort -u) >/dev/null; fi; \
	  ids="$$(docker images -q --filter reference='dasklab/*')"; \
	  if [ -n "$$ids" ]; then docker rmi -f $$ids >/dev/null || { \
	    echo "[clean] some dasklab images are still in use (see above): docker ps -a"; exit 1; }; fi; \
	  echo "[clean] removed the dasklab images"

notebook: venv env ## JupyterLab with the course (notebooks/) and Dask's panes, on 127.0.0.1:NOTEBOOK_PORT; prints its URL
	@$(PY) -m dasklab.notebook start

notebook-stop: ## Stop JupyterLab (make down stops it too)
	@if [ -x $(PY) ]; then $(PY) -m dasklab.notebook stop; fi

ps: ## Show the cluster's containers and their health
	@$(COMPOSE) ps -a

logs: ## Show logs (all services, or one: make logs s=worker-2)
	@$(COMPOSE) logs --tail=200 $(s)

objects: venv env ## List the object store's buckets and objects with sizes (minio SDK)
	@$(PY) -m dasklab.objects list

s3-env: env ## Print `export` lines for the S3 variables (eval "$$(make -s s3-env)")
	@$(PY) -m dasklab.settings s3-env

check-env: venv env ## Compare Python and every package on client, scheduler and workers
	@$(PY) -m dasklab.check_env

##@ Beyond one machine
swarm-up: prereqs images ## The lab as a Swarm stack (single-node swarm on loopback if none); scenarios: DASKLAB_BACKEND=swarm
	@$(PY) -m dasklab.backends.swarm.deploy up $(ARGS)

swarm-scale: venv env ## Scale the stack's workers to N, retiring the removed ones first (make swarm-scale N=2)
	@[ -n "$(N)" ] || { echo "usage: make swarm-scale N=<number of workers>" >&2; exit 2; }
	@$(PY) -m dasklab.backends.swarm.deploy scale $(N)

swarm-down: venv env ## Remove the stack and its volumes; leave the swarm if swarm-up made it
	@$(PY) -m dasklab.backends.swarm.deploy down

hosts-up: prereqs images ## N engine hosts on this machine (netns + own dockerd each, N=2 or 3), a swarm across them, the stack on it (root)
	@$(PY) -m dasklab.backends.hosts.deploy up $(or $(N),2)

hosts-status: venv ## The engine hosts, their swarm nodes and where each service runs
	@$(PY) -m dasklab.backends.hosts.deploy status

hosts-down: venv ## Remove the engine hosts: daemons, namespaces, link, rule, data; says if anything is left
	@$(PY) -m dasklab.backends.hosts.deploy down

k8s-manifests: venv env ## Write build/k8s/*.yaml for the dask-kubernetes operator, validated offline
	@$(PY) -m dasklab.backends.k8s.manifests $(ARGS)

##@ Scenarios
scenarios: venv ## List the scenarios
	@$(PY) -m scenarios list

scenario-%: venv env ## Run one scenario against the running cluster (make scenario-tour)
	@$(PY) -m scenarios $* $(ARGS)

chaos: venv env ## The chaos checker on your own job: make chaos JOB=pkg.module:function [SEED=1 DURATION=30 FAULTS=kill,pause]
	@[ -n "$(JOB)" ] || { echo "usage: make chaos JOB=package.module:function [SEED=1] [DURATION=30] [FAULTS=kill,pause,partition,wipe,store-pause] (the function returns a dasklab.chaos.Job; see examples/own-pipeline)" >&2; exit 2; }
	@$(PY) -m scenarios chaos --set job=$(JOB) --set seed=$(or $(SEED),1) \
	  --set duration=$(or $(DURATION),30) $(if $(FAULTS),--set faults=$(FAULTS)) $(ARGS)

##@ Tests and benchmarks
test: prereqs images ## Unit tests, then integration tests on a separate test cluster
	@# The dashboard test needs a browser; where none can be installed it skips and says why.
	@bash $(BOOT)/browser.sh || echo "[browser] no browser: the dashboard test will skip"
	@$(PY) -m scenarios.admin.certs --if-tls
	@$(PY) -m pytest

test-repeat: prereqs images ## The integration suite N times on one test cluster (make test-repeat N=3): passes, failures, median time per test
	@[ -n "$(N)" ] && [ "$(N)" -ge 2 ] 2>/dev/null || { echo "usage: make test-repeat N=<runs, 2 or more>" >&2; exit 2; }
	@bash $(BOOT)/browser.sh || echo "[browser] no browser: the dashboard test will skip"
	@# Not tests/swarm: it runs on a swarm of its own, not the test cluster, and its
	@# module-scoped stack would carry one pass's scale-down into the next.
	@$(PY) -m pytest -m integration --ignore=tests/swarm --count $(N) --repeat-scope session \
	  -p dasklab.repeat_table $(ARGS)

test-unit: venv ## Unit tests only (no Docker needed)
	@$(PY) -m pytest -m "not integration"

bench-startup: prereqs images ## Compose startup vs LocalCluster of the same shape: medians of 5 runs each, alternating, and the ratio
	@$(PY) -m scenarios.bench.startup $(ARGS)

bench-idle: prereqs images ## Idle CPU of the lab (containers + the engine's share) vs a LocalCluster of the same shape: medians of 3 windows, alternating, and the ratio
	@$(PY) -m scenarios.bench.idle $(ARGS)

bench-s3: up ## Object store throughput: 3 workers via s3fs vs one minio SDK stream
	@$(PY) -m scenarios.bench.s3 $(ARGS)

bench-recovery: up ## Worker-loss run vs no-fault run, same work: time ratio and kill-to-detection
	@$(PY) -m scenarios.bench.recovery $(ARGS)

bench-spill: up ## Spill write throughput vs raw sequential write on the same worker volume
	@$(PY) -m scenarios.bench.spill

bench-faults: prereqs images ## Per fault (worker kill/pause, partition, scheduler kill, store pause): time to usable and to full strength, FAILOVER=default beside fast, each on a cluster of its own; what fast costs
	@$(PY) -m scenarios.bench.faults $(ARGS)

bench-scoring: up ## Batch scoring: cluster rows/s vs cores x single-thread predict rows/s (efficiency, goal >= 0.75), CPU budget
	@$(PY) -m scenarios.bench.scoring $(ARGS)

bench-scaling: prereqs images ## ComposeCluster on a side project: scale(0 -> 3) per worker vs compose starting one, adaptive reaction; medians of 3
	@$(PY) -m scenarios.bench.scaling $(ARGS)

##@ Building blocks (run by the targets above when needed)
prereqs: ## Check Docker, Compose v2 and buildx (installs the plugins where they are missing)
	@bash $(BOOT)/prereqs.sh

venv: ## Create .venv from the locked requirements (same versions as the images)
	@bash $(BOOT)/venv.sh

garage-binary: ## Garage's binary (cargo install, once per machine), unless STORE_BACKEND=minio
	@# Read from .env with sed, not the settings module: this runs beside the
	@# making of .venv. `images` calls garage.sh again, a no-op once it is cached.
	@backend="$${STORE_BACKEND:-$$(sed -n 's/^STORE_BACKEND=//p' .env 2>/dev/null)}"; \
	  if [ "$${backend:-garage}" = garage ]; then bash $(BOOT)/garage.sh; fi

base-image: ## The base image: BASE_IMAGE if present or pullable, else bootstrapped offline
	@mkdir -p build && bash $(BOOT)/base.sh > build/.base-image.tmp && mv build/.base-image.tmp build/.base-image

browser: ## Headless Chromium + chromedriver for the dashboard scenario (Debian packages, once per machine)
	@bash $(BOOT)/browser.sh

env: venv ## Create .env with defaults on first run, then validate it
	@$(PY) -m dasklab.settings init

images: prereqs ## Build the base image (offline bootstrap if needed), the dask and garage images
	@# The base image (apt), .venv with its wheelhouse (PyPI) and Garage's binary
	@# (cargo) do not depend on each other: on a cold machine they are made side by side.
	@$(MAKE) --no-print-directory -j3 base-image env garage-binary
	@base="$$(cat build/.base-image)" && \
	  bash $(BOOT)/build-image.sh "$$($(PY) -m dasklab.settings get DASKLAB_IMAGE)" \
	    images/dask/Dockerfile BASE_IMAGE="$$base" -- \
	    images/dask/entrypoint.sh images/requirements.lock images/requirements-build.lock \
	    images/bootstrap/uv.py && \
	  if [ "$$($(PY) -m dasklab.settings get STORE_BACKEND)" = garage ]; then \
	    bash $(BOOT)/garage.sh && \
	    bash $(BOOT)/build-image.sh dasklab/garage:$(GARAGE_VERSION) images/garage/Dockerfile \
	      BASE_IMAGE="$$base" -- images/garage/entrypoint.sh images/garage/init.sh build/garage/garage; \
	  else bash $(BOOT)/minio-image.sh; fi

image-extra: images ## Build dasklab/dask:extra = the dask image + EXTRA_REQUIREMENTS (from the wheelhouse)
	@bash $(BOOT)/build-image.sh dasklab/dask:extra images/extra/Dockerfile \
	  DASKLAB_IMAGE="$$($(PY) -m dasklab.settings get DASKLAB_IMAGE)" \
	  EXTRA_REQUIREMENTS="$(EXTRA_REQUIREMENTS)" -- images/requirements.lock

image-rogue: images ## Build dasklab/dask:rogue, a drifted worker image (toolz at another version)
	@bash $(BOOT)/build-image.sh dasklab/dask:rogue images/rogue/Dockerfile \
	  DASKLAB_IMAGE="$$($(PY) -m dasklab.settings get DASKLAB_IMAGE)" -- \
	  images/requirements-rogue.lock

lock: venv ## Re-resolve images/requirements*.in into the locks (needs the network)
	@cd images && \
	  ../.venv/bin/uv pip compile requirements.in --generate-hashes --python-version 3.11 \
	    --python-platform x86_64-manylinux_2_28 --no-header -q -o requirements.lock && \
	  ../.venv/bin/uv pip compile requirements-dev.in -c requirements.lock --generate-hashes \
	    --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header -q \
	    -o requirements-dev.lock && \
	  ../.venv/bin/uv pip compile requirements-rogue.in --generate-hashes --python-version 3.11 \
	    --python-platform x86_64-manylinux_2_28 --no-header -q -o requirements-rogue.lock && \
	  ../.venv/bin/uv pip compile requirements-build.in --generate-hashes --python-version 3.11 \
	    --python-platform x86_64-manylinux_2_28 --no-header -q -o requirements-build.lock

help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_%-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)
