"""The suite's two worker processes keep a module's tests that share a module
fixture together (tests/conftest.py), so that the fixture is built once.

Checked through a real `python -m pytest` run in two workers: pytest-xdist
only honours a group that the collection hook marks before its own hook
reads the marks, and a group it ignores fails no test, it only costs time.
"""

import re
import subprocess
import sys

import pytest
from train_cli import ROOT


@pytest.mark.slow
def test_a_module_fixtures_tests_run_in_one_worker():
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider"),
            *("tests/test_loading_safety.py", "-k", "valid_preset_loads or lambda_layer"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    passed = re.findall(r"\[(gw\d)\] .*PASSED (\S+)", completed.stdout)
    assert len(passed) > 2, completed.stdout[-3000:]
    assert {worker for worker, _ in passed} == {passed[0][0]}, passed
    assert all(re.search(r"@(tests\.)?test_loading_safety$", test) for _, test in passed), passed
