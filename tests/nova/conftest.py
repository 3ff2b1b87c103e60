"""The nova system's tests: each module skips, saying how to install nova, where it is not."""

from testbed import system


def pytest_report_header() -> str:
    if not system.installed("nova"):
        return "nova system: not installed (pip install '.[nova]'); its tests are skipped"
    return "nova system: installed"
