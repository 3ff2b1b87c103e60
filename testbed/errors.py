"""Errors users see. Each maps to an exit code and prints as one line, never a traceback.

Only a user's mistake or a refusal of the cluster is a ``TestbedError``; a bug in the testbed
must not be dressed as one (it should show its traceback)."""


class TestbedError(Exception):
    """Base of every error the CLI turns into a one-line message."""

    exit_code = 1


class ConfigError(TestbedError):
    """Bad usage or configuration: an unknown key, point or host, a wrong type, a bad file."""

    exit_code = 2


class ApiError(TestbedError):
    """An API request the cluster refused (e.g. evacuating off a host that is up)."""

    exit_code = 1


class WaitTimeout(TestbedError):
    """A bounded wait ran out; the message says what was awaited and for how long."""

    exit_code = 1
