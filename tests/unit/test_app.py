"""app.py: every synth error ends in a clean message and exit code 1; CDK_DEBUG=1 shows the traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import app

PROJECT_DIR = Path(__file__).resolve().parents[2]
CONTEXT: dict[str, Any] = json.loads((PROJECT_DIR / "cdk.json").read_text())["context"]


def _raise_value_error(*_args: Any, **_kwargs: Any) -> Any:
    raise ValueError("prefix = \"it's\" is not a usable S3 key prefix")


def test_a_non_config_error_prints_one_clean_line_and_exits_1(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CDK_DEBUG", raising=False)
    monkeypatch.setattr(app, "build_app", _raise_value_error)
    assert app.main() == 1
    err = capsys.readouterr().err
    assert err == "error: prefix = \"it's\" is not a usable S3 key prefix\n(set CDK_DEBUG=1 for the traceback)\n"


def test_an_error_raised_by_synth_is_caught_too(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class FailingApp:
        def synth(self) -> None:
            raise RuntimeError("Validation failed")

    monkeypatch.delenv("CDK_DEBUG", raising=False)
    monkeypatch.setattr(app, "build_app", lambda *a, **k: FailingApp())
    assert app.main() == 1
    assert capsys.readouterr().err.startswith("error: Validation failed\n")


@pytest.mark.parametrize("value", ["1", "true"])
def test_cdk_debug_re_raises_with_the_traceback(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CDK_DEBUG", value)
    monkeypatch.setattr(app, "build_app", _raise_value_error)
    with pytest.raises(ValueError, match="is not a usable S3 key prefix"):
        app.main()


def test_config_errors_keep_their_listing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CDK_DEBUG", raising=False)
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({**CONTEXT, "workflow.notebook.idle_minutes": -1}))
    assert app.main() == 1
    err = capsys.readouterr().err
    assert err.startswith("invalid workflow config:\n  - workflow.notebook.idle_minutes = -1 is out of range")


def test_app_py_subprocess_prints_a_construct_error_without_a_traceback(tmp_path: Path) -> None:
    # A value config accepts but a construct rejects: the notebook lifecycle script refuses the prefix
    # (stacks/lifecycle_scripts.py), reached here through a sitecustomize that puts it into the loaded config unchecked.
    (tmp_path / "sitecustomize.py").write_text(
        "import stacks.config\n"
        "_load = stacks.config.load_config\n"
        "stacks.config.load_config = lambda *a, **k: _load(*a, **k).model_copy(update={'prefix': \"it's\"})\n")
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(CONTEXT),
           "CDK_OUTDIR": str(tmp_path / "out"), "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT_DIR)])}
    env.pop("CDK_DEBUG", None)
    result = subprocess.run([sys.executable, "app.py"], cwd=PROJECT_DIR, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "error: prefix = \"it's\" is not a usable S3 key prefix" in result.stderr
    assert result.stderr.rstrip().endswith("(set CDK_DEBUG=1 for the traceback)")
