"""Helpers for the tests, in one place. The fixtures are in tests/conftest.py; tests import helpers
from here, never from a conftest module.

- accounts: PASSWORD, workspace_of, client_for.
- keys: the fake provider keys (one OpenAI, one fal), the test master keys, make_key (through the
  vault, as the Add key form does), store_key (no provider call), assert_clean.
- factories: rows made directly (personas, generations, images, cost records), no provider involved.
- generation: start (a generation through the real service), run_in_threads.
- prices: the catalog's prices, for tests that are not about prices.
- clock: the instant the `frozen_now` fixture stops the app's clock at.
- worker: a real Celery worker process on the test database and broker.
- canary: searches for leaked keys, and readers for each place data ends up.
"""
