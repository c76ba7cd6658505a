"""The stacks synthesized with automated data labeling on (tests/infra and tests/permissions share them).

Not one of tests/infra/synth.py's CONFIGURATIONS on purpose: those feed the snapshot tests, and the
auto-labeling grant is a policy of its own that exists only in this configuration.
"""

from __future__ import annotations

import functools
import tempfile
from typing import Any

from stacks.app import build_app
from tests.infra.synth import ACCOUNT, REGION, context_for

VOLUME_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-8888-7777-6666-555555555555"

AUTO_LABELING: dict[str, dict[str, Any]] = {
    "with-volume-key": {
        "workflow.labeling.auto_labeling.enabled": True,
        "workflow.labeling.auto_labeling.volume_kms_key_arn": VOLUME_KEY_ARN,
    },
    "without-volume-key": {"workflow.labeling.auto_labeling.enabled": True},
}  # off: tests/infra/synth.py's "explicit-env" (cdk.json's default)


@functools.cache
def synthesize_auto_labeling(name: str) -> dict[str, dict[str, Any]]:
    """Templates (by stack suffix, "Data" and "Workflow") of one AUTO_LABELING configuration, with an
    explicit account and region. cdk-nag runs as in every synth: a finding fails it."""
    app = build_app(context_for(AUTO_LABELING[name]), default_account=ACCOUNT, default_region=REGION,
                    outdir=tempfile.mkdtemp(prefix=f"cdk-test-auto-labeling-{name}-"))
    return {stack.stack_name.split("-", 1)[1]: stack.template for stack in app.synth().stacks}
