#!/usr/bin/env bash
# Make Debian's Chromium available for the browser test of the evaluation report
# (tests/integration/test_evaluation_report_browser.py), which renders report.html headless and
# reads the rendered DOM and a screenshot back. The test is not skipped in CI, so CI needs it.
#
# Cheap when /usr/bin/chromium is there (one test): GitHub's Ubuntu runners have it (a Chromium
# snapshot linked there by the runner image). Otherwise, on Debian only (Ubuntu's `chromium` is a
# snap wrapper that does not run in containers), `apt-get install chromium fonts-dejavu-core`
# non-interactively, as root or through password-less sudo (`sudo -n`); anything else prints what to
# install and exits 1: it never asks for a password and never touches other package managers.
#
# Environment (for tests): CHROMIUM (default /usr/bin/chromium), APT_GET (default apt-get),
# OS_RELEASE (default /etc/os-release).
set -euo pipefail

chromium="${CHROMIUM:-/usr/bin/chromium}"
apt_get="${APT_GET:-apt-get}"
os_release="${OS_RELEASE:-/etc/os-release}"

if [[ -x "$chromium" ]]; then
    echo "chromium: $chromium ($("$chromium" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

distribution="$(sed -n 's/^ID=//p' "$os_release" 2>/dev/null | tr -d '"' || true)"
if [[ "$distribution" != debian ]] || ! command -v "$apt_get" >/dev/null; then
    echo "chromium: $chromium is missing: install Chromium so that $chromium exists (on Debian:" \
        "'apt-get install chromium'), then run make again" >&2
    exit 1
fi
if [[ "$(id -u)" == 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "chromium: $chromium is missing: run 'sudo $apt_get install -y chromium' (Debian's package)," \
        "then run make again" >&2
    exit 1
fi

echo "chromium: $chromium is missing; installing Debian's package 'chromium' with $apt_get"
# A fresh container has no package lists: refresh them, then install without recommends. The
# renderer comes as dependencies; a font is named too, or a minimal image renders text as boxes.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "$apt_get" update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "$apt_get" install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core
if [[ ! -x "$chromium" ]]; then
    echo "chromium: $apt_get installed 'chromium' but $chromium does not exist" >&2
    exit 1
fi
echo "chromium: $chromium ($("$chromium" --version 2>/dev/null || echo 'version unknown'))"
