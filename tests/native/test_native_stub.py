"""The hand-written stub `_native.pyi` matches the compiled module (mypy's stubtest, as pydantic-core checks its own)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_stub_matches_the_compiled_module():
    pytest.importorskip("mypy.stubtest")
    result = subprocess.run([sys.executable, "-m", "mypy.stubtest", "sentra_openai._native"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
