from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis_server import running_redis


@pytest.fixture(scope="session")
def state_redis_url(tmp_path_factory: pytest.TempPathFactory):
    """One redis-server for the state tests (each store takes its own key prefix); skips without the binary."""
    yield from running_redis(tmp_path_factory, "state-redis")


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def redis_for(store_kind, request):
    """The redis URL when the store under test is redis (skipping without redis-server), else None."""
    return request.getfixturevalue("state_redis_url") if store_kind == "redis" else None
