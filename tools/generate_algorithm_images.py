"""Regenerate stacks/algorithm_images.json, the built-in image-classification image per region.

The SageMaker Python SDK is the source of truth for algorithm image URIs, but it is large and
slow to import (it pulls in pandas and scipy), so it stays off the synth and Lambda paths:
this script asks it once and commits a small table that `stacks/algorithm_images.py` reads.

    python tools/generate_algorithm_images.py           # rewrite the table
    python tools/generate_algorithm_images.py --check   # exit 1 if the table is out of date

The URI's host name comes from botocore's endpoint data, so a bump of either sagemaker-core or
boto3 can change the table: run `make images` after either and commit the result.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

ALGORITHM = "image-classification"
# The same images serve training and inference; this workflow trains with them.
IMAGE_SCOPE = "training"
SDK_DISTRIBUTION = "sagemaker-core"
TABLE_PATH = Path(__file__).resolve().parent.parent / "stacks" / "algorithm_images.json"

Table = dict[str, Any]


def sdk_table() -> Table:
    """Ask the installed SDK for the image URI in every region it knows (offline, ~2-4 s)."""
    from importlib.metadata import version as installed_version

    from sagemaker.core import image_uris

    versions = image_uris.list_versions(ALGORITHM, IMAGE_SCOPE)
    if len(versions) != 1:
        # A second algorithm version changes what the training job runs: a person decides.
        raise SystemExit(
            f"{SDK_DISTRIBUTION} now lists {ALGORITHM} versions {versions}; this generator assumes "
            "exactly one. Choose the version deliberately and pin it here."
        )
    config = image_uris.config_for_framework(ALGORITHM)
    scoped = config if "versions" in config else config[IMAGE_SCOPE]
    regions = sorted(scoped["versions"][versions[0]]["registries"])
    return {
        "algorithm": ALGORITHM,
        "generated_by": f"{SDK_DISTRIBUTION} {installed_version(SDK_DISTRIBUTION)}",
        "images": {region: image_uris.retrieve(ALGORITHM, region, image_scope=IMAGE_SCOPE) for region in regions},
    }


def render(table: Table) -> str:
    """The committed text: sorted keys, two-space indent, trailing newline (stable diffs)."""
    return json.dumps(table, indent=2, sort_keys=True) + "\n"


def describe_drift(committed_text: str | None, expected: Table) -> list[str]:
    """What differs between the committed table and the SDK's, one line each; [] when identical."""
    expected_text = render(expected)
    if committed_text == expected_text:
        return []
    if committed_text is None:
        return [f"{TABLE_PATH.name} does not exist"]
    try:
        committed: Table = json.loads(committed_text)
        committed_images: dict[str, str] = dict(committed.get("images", {}))
    except (ValueError, TypeError, AttributeError):
        committed, committed_images = {}, {}
    lines: list[str] = []
    for key in ("algorithm", "generated_by"):
        if committed.get(key) != expected[key]:
            lines.append(f"{key}: {committed.get(key)!r} -> {expected[key]!r}")
    images: dict[str, str] = expected["images"]
    for region in sorted(committed_images.keys() | images.keys()):
        old, new = committed_images.get(region), images.get(region)
        if old == new:
            continue
        if old is None:
            lines.append(f"added   {region}: {new}")
        elif new is None:
            lines.append(f"removed {region}: {old}")
        else:
            lines.append(f"changed {region}: {old} -> {new}")
    if not lines:  # same content, different text (formatting, key order): show the text diff
        lines = [
            line.rstrip("\n")
            for line in difflib.unified_diff(
                committed_text.splitlines(keepends=True),
                expected_text.splitlines(keepends=True),
                fromfile=f"committed {TABLE_PATH.name}",
                tofile="generated",
            )
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed table differs from the SDK")
    args = parser.parse_args(argv)

    expected = sdk_table()
    if args.check:
        committed_text = TABLE_PATH.read_text(encoding="utf-8") if TABLE_PATH.exists() else None
        drift = describe_drift(committed_text, expected)
        if drift:
            print(
                f"{TABLE_PATH} is out of date with {expected['generated_by']}:\n"
                + "\n".join(f"  {line}" for line in drift)
                + "\nRun `make images` and commit the result.",
                file=sys.stderr,
            )
            return 1
        print(f"{TABLE_PATH.name} matches {expected['generated_by']} ({len(expected['images'])} regions)")
        return 0

    TABLE_PATH.write_text(render(expected), encoding="utf-8")
    print(f"wrote {TABLE_PATH} from {expected['generated_by']} ({len(expected['images'])} regions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
