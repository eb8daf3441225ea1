#!/usr/bin/env bash
# cli-plugin.sh PACKAGE...: install Docker CLI plugins from Debian 13's packages
# (docker-compose: Compose v2; docker-buildx: BuildKit builds) on a Debian 12
# machine whose own packages lack it. Debian 13's binaries run on Debian 12
# (glibc >= 2.34): fetch the package through the host's own apt sources (same
# URIs, suite trixie) with a private apt state directory, so the host's apt
# configuration is never changed.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: cli-plugin.sh docker-compose|docker-buildx ..." >&2; exit 2; }
say() { echo "[cli-plugin] $*" >&2; }
PLUGIN_DIR="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/dasklab/cli-plugins"

command -v apt-get >/dev/null || { say "not a Debian/Ubuntu machine: install $package yourself"; exit 1; }
uri="$( (cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true) | awk '/^URIs:/{print $2; exit}')"
if [ -z "$uri" ]; then
    uri="$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)"
fi
[ -n "$uri" ] || { say "found no Debian apt source to derive from"; exit 1; }

mkdir -p "$CACHE/lists/partial" "$CACHE/cache" "$CACHE/parts" "$PLUGIN_DIR"
printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" > "$CACHE/parts/trixie.sources"
apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$CACHE/parts"
          -o "Dir::State::Lists=$CACHE/lists" -o "Dir::Cache=$CACHE/cache"
          -o APT::Sandbox::User=root)
missing=()
for package in "$@"; do
    ls "$CACHE/${package}"_*.deb >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "downloading Debian 13's ${missing[*]} ..."
    apt-get "${apt_opts[@]}" -qq update >&2
    (cd "$CACHE" && apt-get "${apt_opts[@]}" -qq download "${missing[@]}" >&2)
fi
for package in "$@"; do
    deb="$(ls "$CACHE/${package}"_*.deb | tail -1)"
    rm -rf "$CACHE/x" && dpkg-deb -x "$deb" "$CACHE/x"
    install -m 0755 "$CACHE/x/usr/libexec/docker/cli-plugins/$package" "$PLUGIN_DIR/$package"
    rm -rf "$CACHE/x"
    say "installed $package ($("$PLUGIN_DIR/$package" version 2>/dev/null | head -1)) into $PLUGIN_DIR"
done
