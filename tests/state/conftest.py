from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis_server import REDIS_BINARY, RedisServer


@pytest.fixture(scope="session")
def state_redis_url(tmp_path_factory: pytest.TempPathFactory):
    """One redis-server for the state tests (each store takes its own key prefix); skips without the binary."""
    if REDIS_BINARY is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("state-redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def redis_for(store_kind, request):
    """The redis URL when the store under test is redis (skipping without redis-server), else None."""
    return request.getfixturevalue("state_redis_url") if store_kind == "redis" else None
