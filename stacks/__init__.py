"""CDK stacks and constructs of the labeling-to-training workflow."""

import sys
from pathlib import Path

# The Lambda asset root: its modules import each other as top-level modules, as in the
# Lambda runtime. The config checks reuse its rules (`job_rules`), as workflow/ does.
LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
if str(LAMBDAS_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDAS_DIR))
