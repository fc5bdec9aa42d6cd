"""Canary: recognisable fake keys go through every key flow; afterwards only the provider has seen them.

The keys are added (valid, 401, 403, duplicate, pasted into the label), re-tested, used by the worker's
decrypt + the real provider clients, rewrapped, replaced (401 and valid) and deleted, all over loopback
against the provider double. Then every table and column, every log record at DEBUG (as created, before
any filter) and the configured handler's formatted output, every response body and header, the session
and the cache are searched for each key: raw, URL-encoded, and base64 / base64url at the three byte
offsets. The double's request log is the positive control: the same search must find the keys there.
"""

from __future__ import annotations

import base64
import io
import pickle
import time
import uuid
from collections.abc import Iterable, Iterator
from urllib.parse import quote_plus

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.management import call_command
from django.db import connection
from django.http import HttpResponse

from keys import services
from keys.models import ProviderKey
from providers import ImageRequest, fal_queue, openai_images
from tests.support import canary
from tests.support.accounts import workspace_of
from tests.support.keys import MASTER_V1, MASTER_V2

CANARY = "sk-proj-CANARYq7Xk2Lr9VmT4bN8wQy3Hd6Jf1Pc5Sg0AeUoIiKz4"
CANARY_REPLACEMENT = "sk-proj-CANARYreplacementZ9y8X7w6V5u4T3s2R1q0PpOoNn"
CANARY_REJECTED = "sk-proj-CANARYrejectedA1b2C3d4E5f6G7h8I9j0KkLlMm__invalid_key"
CANARY_RESTRICTED = "sk-proj-CANARYrestrictedQ1w2E3r4T5y6U7i8O9p0AaSs__forbidden"
CANARY_FAL = "ca4a1a4a-0000-4000-8000-ca4a1a4aca4a:ca4a1a4aca4a1a4a0123456789abcdef"
CANARIES = [CANARY, CANARY_REPLACEMENT, CANARY_REJECTED, CANARY_RESTRICTED, CANARY_FAL]


def hits(haystack: str, secrets: Iterable[str] = CANARIES) -> list[str]:
    """Return the spellings of the secrets found in the text."""
    return canary.hits(haystack, secrets)


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy"])
def test_the_search_finds_base64_at_every_offset(prefix):
    carrier = prefix + b"Authorization: Bearer " + CANARY.encode() + b"\r\n"
    assert hits(base64.b64encode(carrier).decode(), [CANARY])
    assert hits(base64.urlsafe_b64encode(carrier).decode(), [CANARY])
    assert hits(quote_plus(carrier.decode()), [CANARY])
    assert not hits(base64.b64encode(b"nothing to see").decode(), [CANARY])


# Where the keys could end up


def database_text() -> str:
    text = canary.database_text()
    assert text.count("\n") > 50, "the search must have read the tables"
    return text


def session_text() -> str:
    return "\n".join(repr(s.get_decoded()) for s in Session.objects.all())


def cache_text() -> str:
    chunks = []
    for alias in django_settings.CACHES:
        cache = caches[alias]
        if isinstance(cache, DatabaseCache):
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT cache_key, value FROM {connection.ops.quote_name(cache._table)}")  # noqa: S608
                for key, value in cursor.fetchall():
                    decoded = pickle.loads(base64.b64decode(value.encode()))  # noqa: S301 (our own cache)
                    chunks.append(f"{key} {value} {decoded!r}")
            continue
        store = getattr(cache, "_cache", None)
        assert isinstance(store, dict), f"cache {alias!r} is neither a database nor a local-memory cache"
        for key, value in store.items():
            chunks.append(f"{key} {value!r} {pickle.loads(value)!r}")  # noqa: S301 (our own cache)
    return "\n".join(chunks)


@pytest.fixture
def every_log_record() -> Iterator[list[str]]:
    """Record every log record as it is created (before any filter), with everything at DEBUG."""
    with canary.every_log_record() as seen:
        yield seen


@pytest.fixture
def handler_output() -> Iterator[io.StringIO]:
    """Send the configured (filtered) log handlers' formatted output to a buffer."""
    with canary.project_handler_output() as buffer:
        yield buffer


def test_no_trace_of_a_key_anywhere_but_at_the_provider(
    alice, alice_client, double, settings, every_log_record, handler_output
):
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1}"
    responses: list[HttpResponse] = []

    def send(method: str, url: str, data: dict | None = None, expect: int | None = None) -> HttpResponse:
        response = getattr(alice_client, method)(url, data or {})
        responses.append(response)
        if expect is not None:
            assert response.status_code == expect, (method, url, response.status_code)
        if response.status_code == 302:
            responses.append(alice_client.get(response.url))
        return response

    def add(secret: str, provider: str = "openai", label: str = "canary", expect: int = 302) -> None:
        send("post", "/keys/add/", {"provider": provider, "label": label, "api_key": secret}, expect)

    send("get", "/keys/", expect=200)
    add(CANARY)  # valid
    add(CANARY_REJECTED, label="rejected", expect=200)  # 401: refused, nothing stored
    add(CANARY_RESTRICTED, label="restricted")  # 403: saved with a warning
    add(CANARY, label="again", expect=200)  # duplicate
    add(CANARY_REPLACEMENT, label=CANARY_REPLACEMENT, expect=200)  # the key pasted into the label
    add(CANARY_FAL, provider="fal", label="fal")
    add(CANARY_FAL, provider="openai", label="wrong provider", expect=200)

    workspace = workspace_of(alice)
    key = ProviderKey.objects.get(workspace=workspace, label="canary")
    restricted = ProviderKey.objects.get(workspace=workspace, label="restricted")
    fal = ProviderKey.objects.get(workspace=workspace, label="fal")
    assert (key.status, restricted.status, fal.status) == ("valid", "restricted", "unverified")

    send("post", f"/keys/{key.code}/retest/", expect=302)
    send("post", f"/keys/{restricted.code}/retest/", expect=302)
    send("post", f"/keys/{fal.code}/retest/", expect=302)

    # The worker: decrypt just in time, call the real provider clients, report back.
    generation = uuid.uuid4()
    secret = services.decrypt_for_provider_call(key, generation_code=generation)
    request = ImageRequest(model="gpt-image-2", prompt="a canary", width=1024, height=1024, quality="low")
    openai_images.generate(secret, request)
    del secret
    services.mark_key_worked(key)
    secret = services.decrypt_for_provider_call(fal, generation_code=generation)
    handle = fal_queue.submit(secret, "fal-ai/flux-2-max", request, timeout=10)
    fal_queue.wait_for_result(secret, handle, deadline=time.monotonic() + 30, poll_interval=0.05, timeout=10)
    services.mark_key_rejected(fal, message=f"Incorrect key: {secret}")  # a provider echoing the whole key
    del secret

    # Rotation: every row is decrypted and re-encrypted.
    settings.ANIAVATAR_MASTER_KEYS = f"1:{MASTER_V1},2:{MASTER_V2}"
    rewrap_output = io.StringIO()
    call_command("rewrap_keys", stdout=rewrap_output)
    assert "Re-encrypted: 3" in rewrap_output.getvalue()

    send("get", f"/keys/{key.code}/replace/", expect=200)
    send("post", f"/keys/{key.code}/replace/", {"api_key": CANARY_REJECTED}, expect=200)
    send("post", f"/keys/{key.code}/replace/", {"api_key": CANARY_REPLACEMENT}, expect=302)
    send("get", "/keys/", expect=200)
    for row in (key, restricted, fal):
        send("get", f"/keys/{row.code}/delete/", expect=200)
        send("post", f"/keys/{row.code}/delete/", expect=302)
    assert not ProviderKey.objects.exists()
    send("get", "/keys/", expect=200)

    # Positive control: the keys did reach the provider, and the same search finds them there.
    received = double.received_credentials()
    assert {CANARY, CANARY_REPLACEMENT, CANARY_REJECTED, CANARY_RESTRICTED, CANARY_FAL} <= received
    provider_log = repr([entry.as_dict() for entry in double.requests()])
    assert set(hits(provider_log)) >= {CANARY, CANARY_FAL}

    assert hits(database_text()) == []
    assert hits("\n".join(every_log_record)) == []
    assert len(every_log_record) > 100, "DEBUG logging must have been on"
    assert hits(handler_output.getvalue()) == []
    assert "keys.services" in handler_output.getvalue()
    for response in responses:
        assert hits(canary.response_text(response)) == [], response.request["PATH_INFO"]
    assert hits(session_text()) == []
    assert hits(repr(dict(alice_client.session.items()))) == []
    assert hits(cache_text()) == []
    assert hits(rewrap_output.getvalue()) == []
