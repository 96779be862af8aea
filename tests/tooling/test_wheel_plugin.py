"""The wheel ships the pytest plugin: a fresh project whose environment installed the built wheel runs a test file
written only against the plugin's fixtures, with no conftest and no -p flag (the pytest11 entry point loads it).

The wheel is built with maturin from the shared cargo target (offline); the fresh venv borrows the already installed
dependencies (--system-site-packages), so nothing is downloaded. Skipped when maturin or an offline build is not
available."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.wheel, pytest.mark.server]

USER_TEST = '''
import openai
import pytest


def test_the_agent_survives_one_outage(sentra):
    sentra.fail_next(503)
    client = sentra.client(max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.role == "assistant"
    assert [r["status"] for r in sentra.requests()] == [503, 200]


def test_the_plugin_comes_from_the_wheel(sentra_server):
    import sentra_openai
    assert "site-packages" in sentra_openai.__file__ and "/work/main/python" not in sentra_openai.__file__
'''


def build_wheel(out: Path) -> Path:
    maturin = shutil.which("maturin")
    if maturin is None:
        pytest.skip("maturin is not installed")
    built = subprocess.run([maturin, "build", "--release", "--offline", "-o", str(out)], check=False, cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    if built.returncode != 0:
        pytest.skip(f"the wheel cannot be built offline here:\n{built.stderr[-2000:]}")
    (wheel,) = out.glob("sentra_openai-*.whl")
    return wheel


def test_a_fresh_project_with_the_wheel_installed_runs_the_plugin(tmp_path: Path):
    wheel = build_wheel(tmp_path / "dist")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                                "--no-index", "-q", str(wheel)], check=False,
                               capture_output=True, text=True, timeout=300)
    if installed.returncode != 0 and "no such option: --python" in installed.stderr:
        pytest.skip("this pip cannot install into another interpreter")
    assert installed.returncode == 0, installed.stderr
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_agent.py").write_text(USER_TEST)
    result = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_agent.py"],
                            check=False, cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
