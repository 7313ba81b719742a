#!/usr/bin/python3
"""Runs one pytest file of python/tests for CTest (python/CMakeLists.txt). Missing pytest or numpy: exit 77
(CTest's skip) with the reason, or a failure under CI=true / CI=1 (the convention of tests/test_paths.h)."""
import importlib.util
import os
import sys


def main():
    missing = [m for m in ("pytest", "numpy") if importlib.util.find_spec(m) is None]
    if missing:
        what = "missing test input: python3 modules " + ", ".join(missing) + " (Debian python3-pytest, python3-numpy)"
        if os.environ.get("CI", "") in ("true", "1"):
            print(what + " (CI=true: must be present)", file=sys.stderr)
            return 1
        print(what + " (skipped here; fails under CI=true)", file=sys.stderr)
        return 77
    import pytest
    return pytest.main(["-q", "-p", "no:cacheprovider", "-rs"] + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
