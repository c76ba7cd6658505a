"""The synth benchmark's pure parts: verdict, environment, and reading the profilers' output."""

from __future__ import annotations

from bench.bench_synth import (
    BASELINE_APP,
    OTHER_KERNEL_WORK,
    Timing,
    kernel_areas,
    parse_importtime,
    report,
    synth_environment,
    verdict,
)
from tools.toolchain import PROJECT_NODE_BIN


def test_verdict_flags_a_ratio_over_budget() -> None:
    assert verdict(1.3) == "ratio 1.30 <= 1.3: within budget"
    assert verdict(1.31) == "ratio 1.31 > 1.3: OVER BUDGET"


def test_report_prints_medians_and_the_wall_ratio() -> None:
    timings = {
        "this app": [Timing(4.0, 3.0), Timing(2.0, 2.0), Timing(3.0, 9.0)],
        "one-bucket app": [Timing(1.0, 1.0), Timing(2.0, 2.0), Timing(9.0, 3.0)],
    }
    text = report(timings)
    assert "this app             3.00     3.00" in text
    assert "one-bucket app       2.00     2.00" in text
    assert "wall ratio 1.50 > 1.3: OVER BUDGET; cpu ratio 1.50" in text


def test_both_apps_get_the_same_clean_environment() -> None:
    env = synth_environment({"PATH": "/usr/bin", "AWS_PROFILE": "prod", "CDK_DEFAULT_ACCOUNT": "1", "JSII_NODE": "x",
                             "HOME": "/root"})
    assert not {"AWS_PROFILE", "CDK_DEFAULT_ACCOUNT", "JSII_NODE"} & set(env)
    assert env["HOME"] == "/root"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    if PROJECT_NODE_BIN.is_dir():
        assert env["PATH"].split(":")[0] == str(PROJECT_NODE_BIN)


def test_the_baseline_is_one_bucket_in_one_stack() -> None:
    assert BASELINE_APP.count("cdk.Stack(") == 1
    assert BASELINE_APP.count("s3.Bucket(") == 1
    compile(BASELINE_APP, "app.py", "exec")


def test_parse_importtime_ranks_modules_by_their_own_time() -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 |     json\n"
        "import time:    300000 |     300500 |   stacks.functions\n"
        "import time:    200000 |     900000 | stacks.app\n"
    )
    assert parse_importtime(stderr, 2) == [("stacks.functions", 0.3), ("stacks.app", 0.2)]


def test_kernel_areas_attribute_each_sample_to_its_outermost_known_caller() -> None:
    def frame(node_id: int, name: str, url: str = "", children: tuple[int, ...] = ()) -> dict:
        return {"id": node_id, "callFrame": {"functionName": name, "url": url}, "children": list(children)}

    profile = {
        "nodes": [
            frame(1, "(root)", children=(2, 5, 6)),
            frame(2, "synthesize", "aws-cdk-lib/core/lib/private/synthesis.js", children=(3, 4)),
            frame(3, "WasmCompositeEngine", "@aws/cloudformation-validate/bindings_wasm.js"),
            frame(4, "visit", "cdk-nag/lib/nag-pack.js"),
            frame(5, "(garbage collector)"),
            frame(6, "create", "program.js"),
        ],
        "samples": [3, 3, 4, 5, 6],
        "timeDeltas": [1000, 1000, 2000, 500, 250],
    }
    assert kernel_areas(profile) == {
        "built-in CloudFormation validation: starting its engine": 2.0,
        "cdk-nag rules": 2.0,
        "garbage collection": 0.5,
        OTHER_KERNEL_WORK: 0.25,
    }
