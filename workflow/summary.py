"""Print a short summary of synthesized templates: `python -m workflow.summary cdk.out`."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def summarize(template: dict) -> list[str]:
    resources = template.get("Resources", {})
    counts = Counter(r["Type"] for r in resources.values())
    lines = [f"  {count:3d}  {kind}" for kind, count in sorted(counts.items())]
    # CDK's cross-stack exports are plumbing, not something a person looks up.
    outputs = [name for name in template.get("Outputs", {}) if not name.startswith("ExportsOutput")]
    if outputs:
        lines.append(f"  outputs: {', '.join(outputs)}")
    return lines


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0] if argv else "cdk.out")
    templates = sorted(out_dir.glob("*.template.json"))
    if not templates:
        print(f"no templates in {out_dir}/ (run `make synth`)", file=sys.stderr)
        return 1
    for path in templates:
        template = json.loads(path.read_text())
        print(f"{path.name}: {len(template.get('Resources', {}))} resources")
        print("\n".join(summarize(template)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
