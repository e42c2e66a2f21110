"""Whether this machine has every service the slow tests use.

By hand, a test whose service is missing is skipped with the reason. CI must not pass by
skipping them, so `.ci/run` runs `python -m tests.services` after installing the services
and stops on the first missing one. The checks are the tests' own skip conditions.
"""

from __future__ import annotations

import importlib.util
import os
import sys


def missing_services() -> list[str]:
    """The skip reason of each service the slow tests would go without here."""
    from tests import postgres, test_launchers, test_mlflow_ui

    missing = []
    if not (os.environ.get(postgres.URL_VARIABLE) or postgres.server_binaries()):
        missing.append(postgres.NOT_INSTALLED)
    for mark in test_mlflow_ui.pytestmark[1:]:  # the skipif marks after `slow`
        if mark.args[0]:
            missing.append(mark.kwargs["reason"])
    if test_launchers.needs_plugins.args[0]:
        missing.append(test_launchers.needs_plugins.kwargs["reason"])
    for module, reason in (
        ("psycopg", "psycopg is not installed: pip install 'mlengine[postgres]'"),
        ("flask_wtf", "MLflow's basic-auth app needs mlflow[auth] (the dev extra)"),
    ):
        if importlib.util.find_spec(module) is None:
            missing.append(reason)
    return missing


if __name__ == "__main__":
    reasons = missing_services()
    for reason in reasons:
        print(f"missing service: {reason}", file=sys.stderr)
    sys.exit(1 if reasons else 0)
