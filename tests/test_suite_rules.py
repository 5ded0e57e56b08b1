"""The rules of the test suite itself (tests/conftest.py, pyproject.toml's pytest options)."""
import subprocess
import sys

import pytest


def test_a_test_not_marked_slow_cannot_start_a_process():
  with pytest.raises(RuntimeError, match="not marked slow: add @pytest.mark.slow"):
    subprocess.run([sys.executable, "-c", "pass"], check=True)


@pytest.mark.slow
def test_a_slow_test_can_start_a_process():
  assert subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True,
                        check=True).stdout == "42\n"
