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

# Compose v2, and buildx for BuildKit builds (bind-mounted wheelhouse, no
# copy layers): Debian 12's docker.io has neither. Both come from Debian 13.
missing=()
docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
docker buildx version >/dev/null 2>&1 || missing+=(docker-buildx)
if [ ${#missing[@]} -gt 0 ]; then
    say "missing Docker CLI plugins: ${missing[*]}; installing them"
    bash "$(dirname "$0")/cli-plugin.sh" "${missing[@]}" \
        || die "could not install ${missing[*]}. Install Docker's docker-compose-plugin and docker-buildx-plugin packages, or put the binaries in ~/.docker/cli-plugins/."
fi
version="$(docker compose version --short 2>/dev/null || echo 0)"
case "$version" in
    1.*|0) die "'docker compose' reports version $version; dasklab needs Compose v2 (2.20 or newer).";;
esac
