"""ctest entry of the Python client's suite: checks what it needs (exit
77 with the reason when something is truly absent), then runs pytest.

usage: run.py LOOP [pytest args...]   LOOP: asyncio or uvloop
Environment (set by tests/python/CMakeLists.txt): EVD_BIN (the daemon),
PYTHONPATH (the assembled package evd in the build tree)."""
import importlib
import os
import sys


def skip(why: str) -> None:
    print(f"SKIP (exit 77): {why}", file=sys.stderr)
    sys.exit(77)


def main() -> int:
    loop = sys.argv[1]
    for mod, pkg in (("pytest", "python3-pytest"), ("google.protobuf", "python3-protobuf")):
        try:
            importlib.import_module(mod)
        except ImportError:
            skip(f"{mod} is not installed (Debian: {pkg})")
    if loop == "uvloop":
        try:
            importlib.import_module("uvloop")
        except ImportError:
            skip("uvloop is not installed (Debian: python3-uvloop)")
    os.environ["EVD_TEST_LOOP"] = loop
    import pytest
    here = os.path.dirname(os.path.abspath(__file__))
    return int(pytest.main(["-q", "-p", "no:cacheprovider", "-rs", here] + sys.argv[2:]))


if __name__ == "__main__":
    sys.exit(main())
