"""One pooled httpx client per process for the clients that speak HTTP themselves (fal's queue, the
providers' admin endpoints). Thread-safe; built on first use; keys go in headers per request, never
into the client."""

from __future__ import annotations

import threading

import httpx


class PooledClient:
    def __init__(self, timeout: httpx.Timeout) -> None:
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        """Return the process-wide client, building it once."""
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self._timeout)
            return self._client

    def close(self) -> None:
        """Close the pooled connections (worker shutdown, end of a test session)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
