"""The nova system's tests: each module skips, saying how to install nova, where it is not."""

import importlib.util


def pytest_report_header() -> str:
    if importlib.util.find_spec("nova") is None:
        return "nova system: not installed (pip install '.[nova]'); its tests are skipped"
    return "nova system: installed"
