#!/usr/bin/env bash
# Check what `make up` needs from the machine, and provide Compose v2 where
# only v1 exists. Every failure says what is wrong and how to fix it.
set -euo pipefail

say() { echo "[prereqs] $*" >&2; }
die() { echo "[prereqs] ERROR: $*" >&2; exit 1; }

command -v docker >/dev/null \
    || die "the docker CLI is not installed. Install Docker Engine (see README, Prerequisites)."
docker info >/dev/null 2>&1 \
    || die "the Docker engine is not running or not reachable ($(docker info 2>&1 | grep -m1 -i error || true)). Start it (systemctl start docker) or check DOCKER_HOST / your docker group membership."

if ! docker compose version >/dev/null 2>&1; then
    say "Compose v2 ('docker compose') is missing; installing it as a CLI plugin"
    bash "$(dirname "$0")/cli-plugin.sh" docker-compose \
        || die "could not install Compose v2. Install the docker-compose-plugin package (Docker's apt repository) or put a 'docker-compose' v2 binary in ~/.docker/cli-plugins/."
fi
# Images are built with BuildKit (bind-mounted wheelhouse, no copy layers): the
# docker CLI needs its buildx plugin for that, which Debian 12's docker.io lacks.
if ! docker buildx version >/dev/null 2>&1; then
    say "the buildx plugin (BuildKit builds) is missing; installing it as a CLI plugin"
    bash "$(dirname "$0")/cli-plugin.sh" docker-buildx \
        || die "could not install buildx. Install the docker-buildx-plugin package (Docker's apt repository) or put a 'docker-buildx' binary in ~/.docker/cli-plugins/."
fi
version="$(docker compose version --short 2>/dev/null || echo 0)"
case "$version" in
    1.*|0) die "'docker compose' reports version $version; dasklab needs Compose v2 (2.20 or newer).";;
esac
