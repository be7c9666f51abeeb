"""PyTorch for the Python tests, or a clear skip.

Without PyTorch a test module exits with status 77, which CTest reports as skipped (SKIP_RETURN_CODE),
saying how to install it; with DYNPMNN_REQUIRE_TORCH=1 (CI sets it) that is a failure instead, so a
machine that should have PyTorch cannot pass by skipping.
"""
import os
import sys

SKIP = 77

try:
    import torch  # noqa: F401
except ImportError as e:  # the message is printed by require_torch
    torch = None
    _why = str(e)


def require_torch():
    if torch is not None:
        return
    required = os.environ.get("DYNPMNN_REQUIRE_TORCH") == "1"
    print(f"{'FAIL' if required else 'SKIP'}: PyTorch is not importable by {sys.executable} ({_why}); install "
          f"Debian's python3-torch (scripts/bootstrap does) or run the tests with a Python that has it "
          f"(cmake -DDYNPMNN_PYTHON=...)", file=sys.stderr)
    sys.exit(1 if required else SKIP)


def optional_module(test, name: str):
    """An optional module (onnxruntime) for one test: skipped with the reason where it is missing, failed
    instead with DYNPMNN_REQUIRE_TORCH=1 (as above)."""
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError as e:
        why = f"{name} is not importable by {sys.executable} ({e}); scripts/bootstrap installs it into .venv"
        if os.environ.get("DYNPMNN_REQUIRE_TORCH") == "1":
            test.fail(why)
        test.skipTest(why)
