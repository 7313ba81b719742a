"""Shared fixtures of the Python tests: paths (test data, the built CLI, a scratch folder) and the CI rule for
missing inputs (tests/test_paths.h: under CI=true a missing input fails, elsewhere the test is skipped)."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "gpt2_reference"))
sys.path.insert(0, os.path.join(REPO, "tools", "train_reference"))


def in_ci():
    return os.environ.get("CI", "") in ("true", "1")


def require(ok, what):
    """Skips the test when an input is missing, or fails it under CI=true."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"missing test input (CI=true: must be present): {what}")
    pytest.skip(f"missing test input: {what} (skipped here; fails under CI=true)")


def data_path(rel):
    return os.path.join(os.environ.get("GAINCELL_TEST_DATA_DIR", os.path.join(REPO, "tests", "data")), rel)


@pytest.fixture(scope="session")
def model_dir():
    """The bundled byte-level Shakespeare GPT-2 (4 layers x 2 heads of 64)."""
    return os.path.join(REPO, "models", "shakespeare-bytes")


@pytest.fixture(scope="session")
def cli():
    """Runs the built `gaincell` CLI: cli(args...) -> CompletedProcess (stdout, stderr as bytes)."""
    binary = os.environ.get("GAINCELL_BINARY", os.path.join(REPO, "build", "gaincell"))
    require(os.path.isfile(binary), f"the gaincell CLI at {binary}")

    def run(*args, check=True):
        r = subprocess.run([binary, *map(str, args)], capture_output=True)
        if check and r.returncode != 0:
            raise AssertionError(f"gaincell {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr.decode()}")
        return r
    return run


@pytest.fixture
def scratch(tmp_path):
    return tmp_path
