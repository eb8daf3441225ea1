#!/usr/bin/env bash
# build-image.sh TAG DOCKERFILE [--build-arg K=V ...] -- INPUT_FILE...
# Build TAG unless an image with that tag already carries a label equal to the
# hash of its inputs (files, build args, base image id): a second `make up`
# rebuilds nothing, and a changed lock or Dockerfile rebuilds exactly once.
set -euo pipefail

cd "$(dirname "$0")/../.."
tag="$1"; dockerfile="$2"; shift 2
build_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do build_args+=("$1"); shift; done
shift || true
inputs=("$dockerfile" "$@")

base_id=""
for arg in "${build_args[@]}"; do
    # An image given as a build arg (BASE_IMAGE=..., DASKLAB_IMAGE=...) is an input too.
    case "$arg" in *_IMAGE=*) base_id="$base_id $(docker image inspect -f '{{.Id}}' "${arg#*=}")";; esac
done
hash="$( { cat "${inputs[@]}"; printf '%s\n' "${build_args[@]}" "$base_id"; } | sha256sum | cut -c1-16)"
current="$(docker image inspect -f '{{index .Config.Labels "dasklab.inputs"}}' "$tag" 2>/dev/null || true)"
if [ "$current" = "$hash" ]; then
    echo "[images] $tag is up to date" >&2
    exit 0
fi

old_id="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
args=()
for arg in "${build_args[@]}"; do args+=(--build-arg "$arg"); done
echo "[images] building $tag from $dockerfile ..." >&2
start=$SECONDS
mkdir -p build/logs
log="build/logs/$(echo "$tag" | tr '/:' '__').log"
# BuildKit (the buildx plugin; `make prereqs` installs it): bind mounts keep
# the wheelhouse out of the layers, and metadata steps cost nothing. The full
# log goes to build/logs/; each step is shown as it starts.
set +e
DOCKER_BUILDKIT=1 docker build --progress=plain --label "dasklab.inputs=$hash" \
    -f "$dockerfile" -t "$tag" "${args[@]}" . 2>&1 | tee "$log" \
    | awk '/^#[0-9]+ \[[0-9]+\/[0-9]+\]/ { gsub(/ +/, " "); print "[images]   " substr($0, 1, 100); fflush() }' >&2
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
    echo "[images] ERROR: building $tag failed; the end of its log ($log):" >&2
    tail -n 25 "$log" >&2
    exit "$status"
fi
# The build moved the tag: remove the previous image unless a container uses it.
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true
fi
echo "[images] built $tag in $((SECONDS - start)) s" >&2
