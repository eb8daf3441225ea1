#!/usr/bin/env bash
# browser.sh: a headless browser for the dashboard scenario: Debian's chromium
# and chromium-driver (chromedriver), installed with apt when missing, like the
# Compose plugin. Selenium drives them with explicit paths, so nothing is ever
# downloaded at run time. Exit 0 when both are there; otherwise exit 1 with
# the reason (the dashboard test then skips and says why).
set -euo pipefail

say() { echo "[browser] $*" >&2; }
have() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }

have && exit 0
command -v apt-get >/dev/null \
    || { say "no apt-get here: install Chromium and its chromedriver yourself (the dashboard scenario needs them)"; exit 1; }
sudo=()
if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null \
        || { say "installing chromium needs root: run 'sudo apt-get install --no-install-recommends chromium chromium-driver'"; exit 1; }
    sudo=(sudo -n)
fi
say "installing Debian's chromium and chromium-driver (about 130 MB, once per machine) ..."
start=$SECONDS
# Without --no-install-recommends apt pulls in ~130 packages (a desktop's worth).
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2; then
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2 \
        || { say "apt-get could not install chromium chromium-driver (see above)"; exit 1; }
fi
have || { say "chromium or chromedriver still missing after the install"; exit 1; }
say "ready in $((SECONDS - start)) s: $(chromium --version 2>/dev/null | head -1)"
