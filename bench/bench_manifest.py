"""Measure planning and writing a full-size (100,000-image) input manifest, no AWS involved.

Run: `.venv/bin/python bench/bench_manifest.py`

The listing is an in-process generator shaped like ListObjectsV2 output, so the numbers are
the planner's and the manifest writer's own cost, not S3's. Time is the median of several
runs without tracing; peak memory is measured in a separate traced run (tracemalloc slows
code down, so its runs are not timed).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

# The Lambda asset root, added to the path above, as inside the Lambda runtime.
from lambdas import labeling_request as lr
from lambdas import start_labeling

IMAGES = lr.MAX_OBJECTS_PER_JOB
RUNS = 5
SETTINGS = lr.LabelingSettings.from_mapping(
    {
        "region": "us-east-1",
        "account": "123456789012",
        "bucket": "sagemaker-us-east-1-123456789012",
        "prefix": "ground-truth-demo",
        "job_prefix": "gt-demo",
        "task_type": "image-classification",
        "label_attribute": "vehicle",
        "labels": ["Airplane", "Car", "Ferry", "Helicopter", "Motorbike"],
        "task_title": "Classify the vehicle",
        "task_description": "Choose the most prominent vehicle in the image",
        "task_keywords": ["image", "classification", "vehicle"],
        "short_instructions": "Choose the vehicle that fills most of the picture.",
        "full_instructions": "Look at the whole image.",
        "role_arn": "arn:aws:iam::123456789012:role/Exec",
        "workforce": "public",
        "workteam_arn": "arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default",
        "pre_lambda_arn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-ImageMultiClass",
        "acs_lambda_arn": "arn:aws:lambda:us-east-1:432418664414:function:ACS-ImageMultiClass",
        "workers_per_object": 3,
        "price_usd": "0.012",
        "free_of_adult_content": True,
        "task_time_limit_seconds": 300,
        "task_availability_seconds": 21600,
        "max_concurrent_tasks": None,
        "max_objects": None,
        "tags": {"project": "ground-truth-demo"},
    }
)


def fake_listing() -> Iterator[tuple[str, int]]:
    """100,000 images (realistic key lengths) plus folder markers and sidecar files."""
    for index in range(IMAGES):
        if index % 1000 == 0:
            yield f"ground-truth-demo/images/camera-{index // 1000:03d}/", 0
            yield f"ground-truth-demo/images/camera-{index // 1000:03d}/index.csv", 2048
        yield (
            f"ground-truth-demo/images/camera-{index // 1000:03d}/2024-05-06/IMG_{index:06d}.jpg",
            350_000,
        )


def plan() -> lr.LabelingPlan:
    return lr.plan_labeling(SETTINGS, fake_listing(), now=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))


def manifest_to_spooled_file(labeling_plan: lr.LabelingPlan) -> int:
    """What the handler does before upload_fileobj: generator -> spooled temporary file."""
    with tempfile.SpooledTemporaryFile(max_size=start_labeling.SPOOL_IN_MEMORY_BYTES) as buffer:
        for chunk in labeling_plan.file(lr.MANIFEST_FILE).produce():
            buffer.write(chunk)
        return buffer.tell()


def manifest_as_one_string(labeling_plan: lr.LabelingPlan) -> int:
    """The approach we avoid, for comparison: the whole manifest in memory at once."""
    return len(b"".join(labeling_plan.file(lr.MANIFEST_FILE).produce()))


def measure(step: Callable[[], object]) -> tuple[float, float]:
    """(median seconds over RUNS untraced runs, traced peak MiB of one run)."""
    durations = []
    for _ in range(RUNS):
        started = time.perf_counter()
        step()
        durations.append(time.perf_counter() - started)
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(durations), peak / 2**20


def main() -> None:
    labeling_plan = plan()
    size = manifest_to_spooled_file(labeling_plan)
    print(
        f"{labeling_plan.object_count:,} images, skipped {dict(labeling_plan.skipped)}, "
        f"manifest {size:,} bytes; Python {sys.version.split()[0]}; median of {RUNS} runs\n"
    )
    steps: list[tuple[str, Callable[[], object]]] = [
        ("plan (select images, build request)", plan),
        ("manifest -> spooled temp file", lambda: manifest_to_spooled_file(labeling_plan)),
        ("plan + manifest -> file (handler path)", lambda: manifest_to_spooled_file(plan())),
        ("manifest as one bytes (avoided)", lambda: manifest_as_one_string(labeling_plan)),
    ]
    print(f"| {'step':<40} | {'time (ms)':>9} | {'peak (MiB)':>10} |")
    print(f"|{'-' * 42}|{'-' * 11}|{'-' * 12}|")
    for name, step in steps:
        seconds, peak = measure(step)
        print(f"| {name:<40} | {seconds * 1000:>9.1f} | {peak:>10.2f} |")


if __name__ == "__main__":
    main()
