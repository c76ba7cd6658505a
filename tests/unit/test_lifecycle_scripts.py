"""The notebook lifecycle scripts: size limits, shell syntax, no downloads, and the idle checker.

The checker runs for real against a fake Jupyter on 127.0.0.1, and the rendered OnStart script
runs for real with its install paths moved into a temporary directory.
"""

from __future__ import annotations

import ast
import base64
import datetime
import importlib.util
import json
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest
from aws_cdk import Fn, Stack
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stacks.lifecycle_scripts import (
    DEFAULT_SAMPLE_SOURCE,
    IDLE_CHECK_SOURCE,
    MAX_SCRIPT_CHARS,
    check_script_size,
    render_on_create,
    render_on_start,
)

# The longest names a real deployment could bring (63 is S3's bucket name limit).
LONG_BUCKET = "sagemaker-ap-southeast-2-123456789012-labeling-to-training-demo"
LONG_PREFIX = "teams/computer-vision/ground-truth-demo/vehicle-classification-2024"
SYSTEM_PATH = "/usr/bin:/bin"
NOW = 1_700_000_000.0
HOUR = 3600


def _all_scripts() -> list[tuple[str, str]]:
    scripts = [(f"on_start idle={m}", render_on_start(idle_minutes=m)) for m in (0, 60, 1440)]
    for sync in (True, False):
        script = render_on_create(bucket=LONG_BUCKET, prefix=LONG_PREFIX, sync_sample_images=sync)
        scripts.append((f"on_create sync={sync}", script))
    return scripts


SCRIPTS = _all_scripts()
SCRIPT_IDS = [name for name, _ in SCRIPTS]


def _load_idle_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("idle_check", IDLE_CHECK_SOURCE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["idle_check"] = module  # NamedTuple needs its module registered
    spec.loader.exec_module(module)
    return module


idle_check = _load_idle_check()


def _iso(epoch: float) -> str:
    """A timestamp the way Jupyter writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + ".123456Z"


# --- size, syntax and content of every rendered script -------------------------------------


@pytest.mark.parametrize(("name", "script"), SCRIPTS, ids=SCRIPT_IDS)
def test_script_fits_sagemaker_limit_raw_and_base64(name: str, script: str) -> None:
    assert len(script) <= MAX_SCRIPT_CHARS
    assert len(base64.b64encode(script.encode())) <= MAX_SCRIPT_CHARS
    check_script_size(script, name=name)


def test_size_check_rejects_a_script_whose_base64_form_is_too_long() -> None:
    script = "#!/bin/bash\n" + "#" * 13_000  # fits raw, not once base64-encoded
    assert len(script) <= MAX_SCRIPT_CHARS
    with pytest.raises(ValueError, match=r"13012 characters \(17352 base64-encoded\)"):
        check_script_size(script, name="OnStart script")


def test_size_check_rejects_a_raw_script_over_the_limit() -> None:
    with pytest.raises(ValueError, match="at most 16384"):
        check_script_size("#" * (MAX_SCRIPT_CHARS + 1))


@pytest.mark.parametrize(("name", "script"), SCRIPTS, ids=SCRIPT_IDS)
def test_script_is_valid_bash(name: str, script: str, tmp_path: Path) -> None:
    path = tmp_path / "script.sh"
    path.write_text(script)
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize(("name", "script"), SCRIPTS, ids=SCRIPT_IDS)
def test_script_passes_shellcheck(name: str, script: str, tmp_path: Path) -> None:
    path = tmp_path / "script.sh"
    path.write_text(script)
    result = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(("name", "script"), SCRIPTS, ids=SCRIPT_IDS)
def test_script_header_and_strict_mode(name: str, script: str) -> None:
    assert script.startswith("#!/bin/bash\n")
    assert "\nset -euo pipefail\n" in script


@pytest.mark.parametrize(("name", "script"), SCRIPTS, ids=SCRIPT_IDS)
def test_script_survives_fn_sub(name: str, script: str) -> None:
    assert "${" not in script


@pytest.mark.parametrize(("name", "script"), SCRIPTS, ids=SCRIPT_IDS)
def test_script_downloads_nothing(name: str, script: str) -> None:
    assert not re.search(r"\b(curl|wget)\b|pip3? install|conda install|easy_install", script)
    urls = set(re.findall(r"https?://[^\s\"')]*", script))
    assert urls <= {"https://localhost:8443"}


def test_idle_check_stays_python_37_compatible() -> None:
    # Amazon Linux 2's /usr/bin/python3 is 3.7: no walrus, no match, no positional-only.
    ast.parse(IDLE_CHECK_SOURCE.read_text(), feature_version=(3, 7))


# --- OnStart ------------------------------------------------------------------------------


def test_on_start_disabled_installs_nothing() -> None:
    script = render_on_start(idle_minutes=0)
    assert "auto-stop: disabled" in script
    for installer in ("systemctl", "cron", "cat >", "IDLE_CHECK_PY", "stop-notebook-instance"):
        assert installer not in script


def test_on_start_embeds_the_checker_verbatim() -> None:
    script = render_on_start(idle_minutes=60)
    embedded = script.split("<<'IDLE_CHECK_PY'\n", 1)[1].split("\nIDLE_CHECK_PY\n", 1)[0]
    assert embedded + "\n" == IDLE_CHECK_SOURCE.read_text()
    assert "\nIDLE_MINUTES=60\n" in script


@pytest.mark.parametrize("bad", [-1, 1441, 1.5, True, "60", None])
def test_on_start_rejects_bad_idle_minutes(bad: object) -> None:
    with pytest.raises(ValueError, match="idle_minutes"):
        render_on_start(idle_minutes=bad)  # type: ignore[arg-type]


def _sandboxed(script: str, **paths: str) -> str:
    """The script with its install locations (assigned once, at the top) moved elsewhere."""
    for variable, value in paths.items():
        script, count = re.subn(
            rf"^{variable}=.*$", f"{variable}={shlex.quote(value)}", script, flags=re.M
        )
        assert count == 1, f"{variable} is not assigned exactly once"
    return script


def _fake_command(bin_dir: Path, name: str, record: Path) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(record))}\n')
    (bin_dir / name).chmod(0o755)


def _run_on_start(tmp_path: Path, *, systemd: bool, cron: bool) -> subprocess.CompletedProcess:
    (tmp_path / "systemd-units").mkdir()
    if systemd:
        (tmp_path / "run-systemd").mkdir()
    if cron:
        (tmp_path / "cron.d").mkdir()
    script = _sandboxed(
        render_on_start(idle_minutes=60),
        CHECKER=str(tmp_path / "bin" / "notebook-idle-check.py"),
        SYSTEMD_UNIT_DIR=str(tmp_path / "systemd-units"),
        SYSTEMD_RUNTIME_DIR=str(tmp_path / "run-systemd"),
        CRON_DIR=str(tmp_path / "cron.d"),
        CRON_LOG=str(tmp_path / "idle.log"),
        PYTHON_CANDIDATES=f"/nonexistent/python3 {sys.executable}",
    )
    fake_bin = tmp_path / "fake-bin"
    _fake_command(fake_bin, "systemctl", tmp_path / "systemctl.calls")
    _fake_command(fake_bin, "crond", tmp_path / "crond.calls")
    (tmp_path / "on_start.sh").write_text(script)
    return subprocess.run(
        ["bash", str(tmp_path / "on_start.sh")],
        env={"PATH": f"{fake_bin}:{SYSTEM_PATH}"},
        capture_output=True,
        text=True,
        timeout=10,
    )


def test_on_start_installs_checker_and_systemd_timer(tmp_path: Path) -> None:
    result = _run_on_start(tmp_path, systemd=True, cron=True)

    assert result.returncode == 0, result.stderr
    checker = tmp_path / "bin" / "notebook-idle-check.py"
    assert checker.read_text() == IDLE_CHECK_SOURCE.read_text()
    service = (tmp_path / "systemd-units" / "notebook-idle-stop.service").read_text()
    assert f"ExecStart={sys.executable} {checker} --idle-minutes 60\n" in service
    assert "Type=oneshot" in service
    timer = (tmp_path / "systemd-units" / "notebook-idle-stop.timer").read_text()
    assert "OnCalendar=*:0/5" in timer
    assert "WantedBy=timers.target" in timer
    # Separate enable and start: AL2's systemd 219 has no `enable --now`.
    assert (tmp_path / "systemctl.calls").read_text().splitlines() == [
        "daemon-reload",
        "enable notebook-idle-stop.timer",
        "start notebook-idle-stop.timer",
    ]
    assert not (tmp_path / "cron.d" / "notebook-idle-stop").exists()


def test_on_start_falls_back_to_cron_without_systemd(tmp_path: Path) -> None:
    result = _run_on_start(tmp_path, systemd=False, cron=True)

    assert result.returncode == 0, result.stderr
    entry = (tmp_path / "cron.d" / "notebook-idle-stop").read_text()
    checker = tmp_path / "bin" / "notebook-idle-check.py"
    assert entry == (
        f"*/5 * * * * root {sys.executable} {checker} --idle-minutes 60"
        f" >> {tmp_path / 'idle.log'} 2>&1\n"
    )
    assert not (tmp_path / "systemctl.calls").exists()


def test_on_start_fails_loudly_when_it_cannot_schedule(tmp_path: Path) -> None:
    result = _run_on_start(tmp_path, systemd=False, cron=False)

    assert result.returncode == 1
    assert "neither systemd nor cron" in result.stderr


# --- OnCreate -----------------------------------------------------------------------------


def test_on_create_syncs_tutorial_images_to_project_prefix() -> None:
    script = render_on_create(bucket=LONG_BUCKET, prefix=LONG_PREFIX, sync_sample_images=True)
    assert f"SOURCE='{DEFAULT_SAMPLE_SOURCE}'\n" in script
    assert f"DESTINATION='s3://{LONG_BUCKET}/{LONG_PREFIX}/images/'\n" in script
    assert "nohup setsid" in script


def test_on_create_without_sync_is_a_no_op() -> None:
    script = render_on_create(bucket=LONG_BUCKET, prefix=LONG_PREFIX, sync_sample_images=False)
    assert "not copied" in script
    assert "aws" not in script.replace("stacks/lifecycle_scripts.py", "")


def test_on_create_passes_a_bucket_token_through_untouched() -> None:
    stack = Stack()
    bucket = Fn.ref("ProjectBucket")  # an unresolved token, like bucket.bucket_name
    script = render_on_create(bucket=bucket, prefix="ground-truth-demo", sync_sample_images=True)

    assert f"DESTINATION='s3://{bucket}/ground-truth-demo/images/'" in script
    resolved = stack.resolve(script)
    assert {"Ref": "ProjectBucket"} in resolved["Fn::Join"][1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prefix": "/ground-truth-demo"}, "must not start or end with '/'"),
        ({"prefix": "ground-truth-demo/"}, "write it as 'ground-truth-demo'"),
        ({"prefix": ""}, "not a usable S3 key prefix"),
        ({"prefix": "a//b"}, "not a usable S3 key prefix"),
        ({"prefix": "it's"}, "not a usable S3 key prefix"),
        ({"bucket": "My_Bucket"}, "not a valid S3 bucket name"),
        ({"sample_source": "s3://sagemaker-sample-files/datasets"}, "ending in '/'"),
    ],
)
def test_on_create_rejects_bad_inputs(kwargs: dict[str, str], message: str) -> None:
    arguments = {"bucket": LONG_BUCKET, "prefix": "ground-truth-demo", **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        render_on_create(**arguments, sync_sample_images=True)


def _run_on_create(tmp_path: Path, fake_bin: Path) -> subprocess.CompletedProcess:
    script = _sandboxed(
        render_on_create(bucket=LONG_BUCKET, prefix=LONG_PREFIX, sync_sample_images=True),
        LOG_FILE=str(tmp_path / "SageMaker" / "sample-images-sync.log"),
    )
    (tmp_path / "on_create.sh").write_text(script)
    fake_bin.mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", str(tmp_path / "on_create.sh")],
        env={"PATH": f"{fake_bin}:{SYSTEM_PATH}"},
        capture_output=True,
        text=True,
        timeout=10,
    )


def test_on_create_starts_the_copy_in_the_background(tmp_path: Path) -> None:
    _fake_command(tmp_path / "fake-bin", "aws", tmp_path / "aws.calls")
    result = _run_on_create(tmp_path, tmp_path / "fake-bin")

    assert result.returncode == 0, result.stderr
    assert "in the background" in result.stdout
    log = tmp_path / "SageMaker" / "sample-images-sync.log"
    deadline = time.monotonic() + 5
    while "exit status" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "exit status 0" in log.read_text()
    assert (tmp_path / "aws.calls").read_text() == (
        f"s3 sync {DEFAULT_SAMPLE_SOURCE} s3://{LONG_BUCKET}/{LONG_PREFIX}/images/ --no-progress\n"
    )


def test_on_create_without_aws_cli_does_not_fail(tmp_path: Path) -> None:
    if shutil.which("aws", path=SYSTEM_PATH):
        pytest.skip("this machine has an aws CLI in the system PATH")
    result = _run_on_create(tmp_path, tmp_path / "empty-bin")

    assert result.returncode == 0
    assert "aws CLI not found" in result.stderr


# --- the idle decision (pure) -------------------------------------------------------------


def test_busy_kernel_is_not_idle() -> None:
    kernels = [{"id": "k1", "execution_state": "busy", "last_activity": _iso(NOW - 5 * HOUR)}]
    decision = idle_check.is_idle(kernels, [], NOW, HOUR, {"idle_since": NOW - 9 * HOUR})
    assert not decision.idle
    assert decision.state == {}


def test_idle_kernel_with_recent_activity_is_not_idle() -> None:
    kernels = [{"execution_state": "idle", "last_activity": _iso(NOW - 10 * 60)}]
    assert not idle_check.is_idle(kernels, [], NOW, HOUR, {}).idle


def test_activity_older_than_the_limit_is_idle() -> None:
    kernels = [{"execution_state": "idle", "last_activity": _iso(NOW - HOUR - 60)}]
    decision = idle_check.is_idle(kernels, [], NOW, HOUR, {})
    assert decision.idle
    assert "idle 61.0 of 60 min" in decision.reason


def test_recent_terminal_without_kernels_is_not_idle() -> None:
    terminals = [{"name": "1", "last_activity": _iso(NOW - 60)}]
    assert not idle_check.is_idle([], terminals, NOW, HOUR, {}).idle


def test_latest_activity_counts_across_kernels_and_terminals() -> None:
    kernels = [{"execution_state": "idle", "last_activity": _iso(NOW - 3 * HOUR)}]
    terminals = [{"name": "1", "last_activity": _iso(NOW - 30 * 60)}]
    assert not idle_check.is_idle(kernels, terminals, NOW, HOUR, {}).idle


def test_nothing_at_all_is_idle_only_after_the_limit_from_first_seen() -> None:
    first = idle_check.is_idle([], [], NOW, HOUR, {})
    assert not first.idle
    assert first.state == {"idle_since": NOW}

    later = idle_check.is_idle([], [], NOW + HOUR - 1, HOUR, first.state)
    assert not later.idle
    assert later.state == {"idle_since": NOW}

    assert idle_check.is_idle([], [], NOW + HOUR, HOUR, later.state).idle


def test_activity_resets_the_first_seen_clock() -> None:
    terminals = [{"name": "1", "last_activity": _iso(NOW - 60)}]
    decision = idle_check.is_idle([], terminals, NOW, HOUR, {"idle_since": NOW - 9 * HOUR})
    assert decision.state == {}


def test_terminal_without_last_activity_falls_back_to_first_seen() -> None:
    # Jupyter servers before 1.x list terminals without last_activity.
    decision = idle_check.is_idle([], [{"name": "1"}], NOW, HOUR, {"idle_since": NOW - HOUR})
    assert decision.idle


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2023-11-14T22:13:20.123456Z", NOW + 0.123456),
        ("2023-11-14T22:13:20Z", NOW),
        ("2023-11-14T23:13:20+01:00", NOW),
        ("2023-11-14T22:13:20.5+00:00", NOW + 0.5),
        ("not a time", None),
        (None, None),
    ],
)
def test_parse_timestamp(text: str | None, epoch: float | None) -> None:
    assert idle_check.parse_timestamp(text) == pytest.approx(epoch)


# --- the checker as a program, against a fake Jupyter on 127.0.0.1 -------------------------


class FakeJupyter:
    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        jupyter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path not in jupyter.routes:
                    self.send_error(404)
                    return
                body = json.dumps(jupyter.routes[self.path]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def jupyter() -> Iterator[FakeJupyter]:
    fake = FakeJupyter()
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _run_checker(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text(
        json.dumps(
            {
                "ResourceArn": "arn:aws:sagemaker:eu-west-1:123456789012:notebook-instance/nb",
                "ResourceName": "labeling-notebook",
            }
        )
    )
    command = [
        sys.executable,
        str(IDLE_CHECK_SOURCE),
        "--idle-minutes",
        "60",
        "--jupyter-url",
        url,
        "--state-file",
        str(tmp_path / "state" / "state.json"),
        "--metadata-file",
        str(metadata),
        "--stop-command",
        "sh -c 'echo STOP $NOTEBOOK_INSTANCE_NAME'",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=10, check=True)


def test_checker_stops_after_old_activity(jupyter: FakeJupyter, tmp_path: Path) -> None:
    old = _iso(time.time() - 2 * HOUR)
    jupyter.routes = {
        "/api/sessions": [{"id": "s1", "kernel": {"id": "k1"}}],
        "/api/kernels": [{"id": "k1", "execution_state": "idle", "last_activity": old}],
        "/api/terminals": [{"name": "1", "last_activity": old}],
    }
    result = _run_checker(jupyter.url, tmp_path)
    assert result.stdout.startswith("stop: 1 kernel(s), 1 terminal(s), idle 120.")
    assert result.stdout.endswith("STOP labeling-notebook\n")


def test_checker_keeps_instance_with_recent_terminal(jupyter: FakeJupyter, tmp_path: Path) -> None:
    jupyter.routes = {
        "/api/sessions": [],
        "/api/kernels": [],
        "/api/terminals": [{"name": "1", "last_activity": _iso(time.time() - 120)}],
    }
    result = _run_checker(jupyter.url, tmp_path)
    assert result.stdout.startswith("keep: 0 kernel(s), 1 terminal(s), idle 2.")
    assert "STOP" not in result.stdout


def test_checker_dry_run_never_stops(jupyter: FakeJupyter, tmp_path: Path) -> None:
    jupyter.routes = {"/api/kernels": [{"last_activity": _iso(time.time() - 2 * HOUR)}]}
    result = _run_checker(jupyter.url, tmp_path, "--dry-run")
    assert result.stdout.startswith("stop: 1 kernel(s), 0 terminal(s)")  # terminals: 404
    assert "STOP" not in result.stdout


def test_checker_counts_unreachable_jupyter_from_first_seen(tmp_path: Path) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}"
    closed.server_close()

    first = _run_checker(url, tmp_path)
    assert first.stdout.startswith("keep: Jupyter unreachable")
    state_file = tmp_path / "state" / "state.json"
    state_file.write_text(json.dumps({"idle_since": time.time() - HOUR - 1}))
    assert "STOP labeling-notebook" in _run_checker(url, tmp_path).stdout


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost that nobody trusts, like the one Jupyter serves."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_checker_talks_https_to_a_self_signed_jupyter(tmp_path: Path) -> None:
    fake = FakeJupyter()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed_certificate(tmp_path))
    fake.server.socket = context.wrap_socket(fake.server.socket, server_side=True)
    fake.routes = {"/api/kernels": [{"execution_state": "busy"}], "/api/terminals": []}
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        result = _run_checker(f"https://localhost:{fake.server.server_address[1]}", tmp_path)
    finally:
        fake.server.shutdown()
        fake.server.server_close()
    assert result.stdout == "keep: a kernel is busy\n"


def test_checker_refuses_a_remote_jupyter_url(tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError) as raised:
        _run_checker("https://example.com:8443", tmp_path)
    assert "must point at this machine" in raised.value.stderr


def test_installed_checker_runs_from_its_unit_file(jupyter: FakeJupyter, tmp_path: Path) -> None:
    """The ExecStart line the OnStart script writes, run as systemd would run it."""
    assert _run_on_start(tmp_path, systemd=True, cron=False).returncode == 0
    service = (tmp_path / "systemd-units" / "notebook-idle-stop.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", service, flags=re.M)
    assert exec_start
    jupyter.routes = {"/api/kernels": [], "/api/terminals": []}
    metadata = tmp_path / "metadata.json"
    metadata.write_text(json.dumps({"ResourceName": "nb"}))
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"idle_since": time.time() - 2 * HOUR}))
    command = [
        *shlex.split(exec_start.group(1)),
        *("--jupyter-url", jupyter.url, "--state-file", str(state_file)),
        *("--metadata-file", str(metadata), "--stop-command", "echo STOP"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True)
    decision, *stop_output = result.stdout.splitlines()
    assert decision.startswith("stop: 0 kernel(s), 0 terminal(s)")
    assert stop_output == ["STOP"]


@pytest.mark.parametrize("routes", [
    {},  # /api/kernels answers 404
    {"/api/kernels": {"message": "Forbidden"}},  # an answer that is no list of kernels
])
def test_checker_counts_a_jupyter_api_error_as_busy(jupyter: FakeJupyter, tmp_path: Path, routes: dict) -> None:
    jupyter.routes = routes
    state_file = tmp_path / "state" / "state.json"
    state_file.parent.mkdir()
    state_file.write_text(json.dumps({"idle_since": time.time() - 9 * HOUR}))
    result = _run_checker(jupyter.url, tmp_path)
    assert result.stdout.startswith("keep: Jupyter API error, counted as busy (")
    assert "STOP" not in result.stdout
    assert json.loads(state_file.read_text())["idle_since"] < time.time() - 8 * HOUR  # clock untouched


def test_checker_finds_the_aws_cli_only_by_absolute_system_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = tmp_path / "bin" / "aws"
    planted.parent.mkdir()
    planted.write_text("#!/bin/sh\necho PLANTED\n")
    planted.chmod(0o755)
    monkeypatch.setenv("PATH", f"{planted.parent}:{SYSTEM_PATH}")
    assert all(path.startswith(("/usr/bin/", "/usr/local/bin/")) for path in idle_check.AWS_CLI_PATHS)
    metadata = tmp_path / "metadata.json"
    metadata.write_text(json.dumps({"ResourceName": "nb"}))
    ran: list[list[str]] = []
    monkeypatch.setattr(idle_check.os, "access", lambda path, mode: path == "/usr/bin/aws")
    monkeypatch.setattr(idle_check.subprocess, "run",
                        lambda command, **_: ran.append(command) or subprocess.CompletedProcess(command, 0))
    assert idle_check.stop_instance(str(metadata), None) == 0
    assert ran == [["/usr/bin/aws", "sagemaker", "stop-notebook-instance", "--notebook-instance-name", "nb"]]


def test_checker_without_a_system_aws_cli_stops_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metadata = tmp_path / "metadata.json"
    metadata.write_text(json.dumps({"ResourceName": "nb"}))
    monkeypatch.setattr(idle_check.os, "access", lambda path, mode: False)
    monkeypatch.setattr(idle_check.subprocess, "run", lambda *a, **k: pytest.fail("nothing may run"))
    assert idle_check.stop_instance(str(metadata), None) == 1
