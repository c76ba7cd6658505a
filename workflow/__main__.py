"""`python -m workflow <command>`: the operator CLI (see workflow/cli.py)."""

import sys

from workflow.cli import main

if __name__ == "__main__":
    sys.exit(main())
