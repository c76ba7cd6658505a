"""The CLI's expected failures, each with its exit code (never a traceback for these)."""

from __future__ import annotations

# 2: the command cannot work as invoked (usage, config, credentials): fix the call or the setup.
# 1: it ran and something in AWS (or the deployed Lambda) said no.
EXIT_USAGE = 2
EXIT_RUNTIME = 1


class CliError(Exception):
    """A problem the operator can fix; the message says what and how."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CliError):
    exit_code = EXIT_USAGE
