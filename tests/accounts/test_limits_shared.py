"""Rate limits hold across processes: the counters live in the shared cache, not in one process's memory."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from django.core.cache import caches
from django.test import RequestFactory, override_settings

from accounts import limits

REDIS_CACHE = "redis://127.0.0.1:6379/14"

CHILD = """
import django, sys
django.setup()
from django.test import RequestFactory
from accounts import limits
request = RequestFactory().post("/accounts/signup/", REMOTE_ADDR="10.9.9.9")
print(" ".join(str(limits.consume_per_address(request, action="signup_per_address", rate="3/h/key",
      address=sys.argv[1])) for _ in range(2)))
"""


def _consume_in_another_process(address: str) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aniavatar.settings",
        "DEBUG": "true",
        "CACHE_URL": REDIS_CACHE,
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, address],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_two_processes_share_one_counter():
    address = f"shared-{uuid.uuid4().hex}@example.com"  # fresh for every run: Redis outlives the test
    redis = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE}}
    with override_settings(CACHES=redis):
        try:
            caches["default"].get("probe")
        except Exception as error:
            pytest.skip(f"no Redis at {REDIS_CACHE}: {error}")
        assert _consume_in_another_process(address) == "True True"
        request = RequestFactory().post("/accounts/signup/", REMOTE_ADDR="10.9.9.8")
        # The third sign-up for this address, from this process: the other process's two count.
        assert limits.consume_per_address(
            request, action="signup_per_address", rate="3/h/key", address=address
        )
        assert not limits.consume_per_address(
            request, action="signup_per_address", rate="3/h/key", address=address.upper()
        )
