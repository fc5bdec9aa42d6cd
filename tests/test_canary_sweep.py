"""Canary sweep, end to end: fake keys through every flow with a real worker and broker, then every sink.

Recognisable fake keys for both providers are added (valid, refused with a 401, saved unverified),
re-tested, used by generations that succeed and that fail with every fault the provider double can
inject, rejected mid-generation, replaced, and deleted; error pages, the admin and a password-reset email
are produced along the way. The generations run in a real Celery worker process on the configured broker
(eager mode would never serialize a task message). Then every sink is read and searched for every key,
raw, URL-encoded, JSON-escaped, base64 at the three byte offsets, and by its distinctive part
(tests/canary.py): every row of every table, every broker message that was published or stored (the
Redis database, or the filesystem broker's folders, with base64 bodies decoded), every log record in this
process as created at DEBUG and as formatted by the project's handlers, the worker's DEBUG log file,
every response body and header, media files, sent email, and task results. Expected: 0 hits, while the
provider double did receive every key (the positive control) and every reader saw real data.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import get_resolver, resolve
from PIL import Image

from accounts.models import Invitation, Membership, User
from aniavatar.celery import app
from generation.models import CostRecord, Generation, Persona, PersonaReference, Reconciliation
from keys.models import KeyUse, ProviderKey
from provider_double import FAULTS, ProviderDouble
from tests.support import canary, mailbox, totp
from tests.support.accounts import PASSWORD, client_for, sign_in, workspace_of
from tests.support.worker import celery_worker, forget_queue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.drill]

OPENAI = "sk-proj-CANARYP2KK6F2R6NpEIZYfS3bE2euxgzpL9d0aaCKtVYWTVYGE"
OPENAI_REFUSED = "sk-proj-CANARYwQiA6K86I96D0Ls85g76XogpN8TFiY3KmfatsSK9lRku__invalid_key"
OPENAI_BUSY = "sk-proj-CANARYjHgf2aEpVedrGfvVb3wAntE4yJPrgPlfxE5DPJcHLVcD__rate_limit"
OPENAI_REPLACEMENT = "sk-proj-CANARYez4AIFAmwi5C9AM8Eot2RYUIuPLqdrstkVJJaWRzOOHQ"
OPENAI_REPLACEMENT_REFUSED = "sk-proj-CANARYwLF40lNcOtyH4KsSPEWNNOMWNFRcLG4TOv6zMP1wVusD__invalid_key"
FAL = "19ef337a-1ab5-4366-82e5-4f396169926b:CANARY347905a1a0200c1d7f66c8028a65067c55"
FAL_REFUSED = "80db1fae-560b-46e4-9837-f6cf745684aa:CANARY4c48dc4cc6d6ec3b8c67fcfffebc2de0e3__invalid_key"
FAL_BUSY = "28b8671a-4694-479e-80bc-071a68e1d95c:CANARYd2accb8af2cbc776da8a82d8a9ba810a15__rate_limit"
FAL_REPLACEMENT = "2006d59a-c86b-4310-9233-a7dc5b63c3df:CANARY417d11b7f7ee1f799991605cdfb29ecb6a"
# Read-only usage keys (reconciliation): an OpenAI Admin key, one OpenAI refuses, a fal Admin-scoped key.
OPENAI_USAGE = "sk-admin-CANARYq8Zt3LmV5nW1xYb7cD2eF9gH4jK6pQ0rS3tUvWx"
OPENAI_USAGE_REFUSED = "sk-admin-CANARYh2Jk4Lm6Np8Qr0St2Uv4Wx6Yz8Ab0Cd2Ef4G__invalid_key"
FAL_USAGE = "admin-6c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5:CANARYb1e2d3c4a5968778695a4b3c2d1e0f9e"
CANARIES = [
    OPENAI,
    OPENAI_REFUSED,
    OPENAI_BUSY,
    OPENAI_REPLACEMENT,
    OPENAI_REPLACEMENT_REFUSED,
    FAL,
    FAL_REFUSED,
    FAL_BUSY,
    FAL_REPLACEMENT,
    OPENAI_USAGE,
    OPENAI_USAGE_REFUSED,
    FAL_USAGE,
]
MODELS = {"openai": ("gpt-image-2", "low"), "fal": ("fal-ai/flux-2-max", "")}
# Faults that end a generation at once (the rest are retried); each must show up as its documented kind.
FINAL_FAULTS = {
    "openai": {
        "forbidden": "forbidden",
        "insufficient_quota": "no_credit",
        "moderation": "safety",
        "unknown_model": "not_found",
        "malformed": "bad_response",
        "bad_base64": "bad_response",
        "slow": "timeout",  # sent and never answered: it ends the generation, possibly charged
        "reset": "connection",
        "stream_break": "connection",  # a reset (the wave's generations ask for no previews)
        "non_image": "bad_response",
        "truncated": "bad_response",
        "wrong_size": "bad_response",
    },
    "fal": {
        "forbidden": "no_credit",
        "insufficient_quota": "no_credit",
        "moderation": "safety",
        "unknown_model": "not_found",
        "malformed": "bad_response",
        "bad_base64": "bad_response",
        "slow": "timeout",  # sent and never answered: it ends the generation, possibly charged
        "reset": "connection",
        "stream_break": "connection",  # a reset (the wave's generations ask for no previews)
        "non_image": "bad_response",
        "truncated": "bad_response",
        "wrong_size": "bad_response",
    },
}
POSSIBLY_OR_BILLED = {"bad_response", "timeout", "connection"}
# One generation per fault that ends it, one for each retried fault to land on, and two more.
WAVE = 14


def test_the_search_finds_a_key_in_a_kombu_message_body():
    body = base64.b64encode(json.dumps([[1], {"key": FAL}, {}]).encode()).decode()
    envelope = json.dumps({"body": body, "properties": {"body_encoding": "base64"}})
    assert canary.hits(envelope, [FAL])
    assert FAL in decoded_bodies(envelope)


# The flows


class Browser:
    """A test client that keeps every response and the URL pattern each request resolved to."""

    def __init__(self, client: Client, log: list[tuple[str, str]], routes: set[str]) -> None:
        self.client, self.log, self.routes = client, log, routes

    def request(self, method: str, path: str, data: dict | None = None, expect: int | None = None):
        response = getattr(self.client, method)(path, data or {})
        self.log.append((f"{method.upper()} {path} → {response.status_code}", canary.response_text(response)))
        self.routes.add(_route(path))
        if expect is not None:
            assert response.status_code == expect, (method, path, response.status_code)
        return response

    def get(self, path: str, expect: int | None = 200):
        return self.request("get", path, expect=expect)

    def post(self, path: str, data: dict | None = None, expect: int | None = 302):
        response = self.request("post", path, data, expect=expect)
        if response.status_code == 302 and not response.url.startswith("http"):
            self.get(response.url, expect=None)  # the page that shows the message
        return response


def _route(path: str) -> str:
    try:
        match = resolve(path.split("?")[0])
    except Exception:
        return "(no route)"
    return f"{match.namespace}:{match.route}" if match.namespace else match.route


def _add_key(browser: Browser, provider: str, secret: str, label: str, expect: int = 302) -> None:
    browser.post("/keys/add/", {"provider": provider, "label": label, "api_key": secret}, expect=expect)


def _key(alice: User, label: str) -> ProviderKey:
    return ProviderKey.objects.get(workspace=workspace_of(alice), label=label)


def _generate(
    browser: Browser, key: ProviderKey, persona: Persona, *, previews: bool = False, **extra: Any
) -> Generation:
    """Submit the generate form for `persona` with `key` (and any `extra` fields); return the generation."""
    model, quality = MODELS[key.provider]
    data = {
        "persona": str(persona.code),
        "prompt": f"A portrait of {persona.name}",
        "model": model,
        "provider_key": str(key.code),
        "size": "1024x1024",
        "quality": quality,
        "background": "auto" if quality else "",
        "n": 1,
        **({"previews": "on", "previews_shown": "1"} if previews else {}),
        **extra,
    }
    response = browser.request("post", "/generate/", data, expect=302)
    return Generation.objects.get(code=response.url.strip("/").split("/")[-1])


def _generate_with_previews(
    browser: Browser, key: ProviderKey, persona: Persona, double: ProviderDouble
) -> Generation:
    """Generate with live previews (D36) and fetch a preview while it runs, as the page does."""
    double.latency = 1.5  # partials at 30 % and 60 % of it: long enough to be seen
    try:
        generation = _generate(browser, key, persona, previews=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            generation.refresh_from_db()
            if generation.is_final:
                break
            browser.get(f"/generations/{generation.code}/status/")
            if generation.preview.name:
                # 404 if it ended between the read and the request.
                browser.get(f"/generations/{generation.code}/preview/", expect=None)
            time.sleep(0.1)
    finally:
        double.latency = 0.0
    (generation,) = _wait_final(browser, [generation])
    assert generation.status == "succeeded" and generation.previews_received == 2, generation.error_message
    return generation


def _references_flow(browser: Browser, persona: Persona, keys: list[ProviderKey]) -> list[Generation]:
    """Upload a reference photo, generate from it with each key, then "more like this" from a result."""
    photo = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 80, 60)).save(photo, "JPEG")
    upload = SimpleUploadedFile("ana.jpg", photo.getvalue(), content_type="image/jpeg")
    browser.post(f"/personas/{persona.code}/references/", {"photos": [upload], "consent": "on"})
    reference = PersonaReference.objects.get(persona=persona)
    browser.get(f"/references/{reference.code}/")
    generations = [_generate(browser, key, persona, references=[str(reference.code)]) for key in keys]
    done = _wait_final(browser, generations)
    assert [g.status for g in done] == ["succeeded", "succeeded"], [g.error_message for g in done]
    avatar = done[-1].images.first()
    assert avatar is not None
    browser.get(f"/generate/?like={avatar.code}")
    like = _generate(browser, keys[-1], persona, like=str(avatar.code), change="pose", change_detail="waving")
    done += _wait_final(browser, [like])
    assert done[-1].status == "succeeded", done[-1].error_message
    return done


def _wait_final(browser: Browser, generations: list[Generation], timeout: float = 90) -> list[Generation]:
    """Poll until every generation is final; fetch each one's status fragment and page on the way."""
    pending = {g.pk: g for g in generations}
    polled: set[int] = set()
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for generation in Generation.objects.filter(pk__in=list(pending)):
            if generation.pk not in polled:
                browser.get(f"/generations/{generation.code}/status/")
                polled.add(generation.pk)
            if generation.is_final:
                browser.get(f"/generations/{generation.code}/status/")
                browser.get(f"/generations/{generation.code}/")
                del pending[generation.pk]
        time.sleep(0.25)
    assert not pending, f"still not final after {timeout}s: {list(pending.values())}"
    return list(Generation.objects.filter(pk__in=[g.pk for g in generations]))


# Where the keys could end up


def decoded_bodies(text: str) -> str:
    """Return the base64 message bodies (kombu's envelopes) found in the text, decoded."""
    found = []
    for match in re.finditer(r'"body":\s*"([A-Za-z0-9+/=_-]{4,})"', text):
        try:
            found.append(base64.b64decode(match[1]).decode("latin-1"))
        except ValueError:
            continue
    return "\n".join(found)


def redis_text(url: str) -> str:
    """Return every key and value in the broker's Redis database."""
    import redis

    client = redis.Redis.from_url(url)
    chunks = []
    for name in client.scan_iter(count=1000):
        kind = client.type(name).decode()
        if kind == "string":
            value = client.get(name)
        elif kind == "list":
            value = client.lrange(name, 0, -1)
        elif kind == "hash":
            value = client.hgetall(name)
        elif kind == "set":
            value = client.smembers(name)
        elif kind == "zset":
            value = client.zrange(name, 0, -1, withscores=True)
        elif kind == "stream":
            value = client.xrange(name)
        else:
            continue  # removed meanwhile (another test run shares the database)
        chunks.append(f"{canary.as_text(name)} ({kind}): {_flatten(value)}")
    client.close()
    return "\n".join(chunks)


def _flatten(value: object) -> str:
    if isinstance(value, dict):
        return " ".join(f"{_flatten(k)}={_flatten(v)}" for k, v in value.items())
    if isinstance(value, list | set | tuple):
        return " ".join(_flatten(v) for v in value)
    return canary.as_text(value)


def broker_folder_text() -> str:
    """Return every file under the filesystem broker's folders."""
    root = Path(django_settings.BROKER_DIR)
    return "\n".join(f"{p}: {canary.as_text(p.read_bytes())}" for p in sorted(root.rglob("*")) if p.is_file())


@contextmanager
def published_messages() -> Iterator[list[str]]:
    """Record every message this process hands to the broker, as the transport serializes it."""
    with app.connection_for_write() as conn:
        channel_class = type(conn.default_channel)
    original = channel_class._put
    seen: list[str] = []

    def recording_put(self, queue, message, **kwargs):
        seen.append(f"{queue}: {json.dumps(message)}")
        return original(self, queue, message, **kwargs)

    channel_class._put = recording_put
    try:
        yield seen
    finally:
        channel_class._put = original


@contextmanager
def redis_commands(url: str) -> Iterator[list[str]]:
    """Record every command the Redis server executes (MONITOR): messages in transit, not only at rest."""
    if not url.startswith("redis"):
        yield []
        return
    import redis

    seen: list[str] = []
    monitor = redis.Redis.from_url(url).monitor()
    monitor.__enter__()

    def listen() -> None:
        try:
            for command in monitor.listen():
                seen.append(command["command"])
        except Exception:
            return  # the connection was closed: we are done

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        time.sleep(0.2)  # let the last commands arrive
        monitor.connection.disconnect()
        thread.join(5)


def media_text() -> str:
    root = Path(django_settings.MEDIA_ROOT)
    return "\n".join(f"{p}: {canary.as_text(p.read_bytes())}" for p in sorted(root.rglob("*")) if p.is_file())


def email_text() -> str:
    return "\n".join(message.message().as_string() for message in mail.outbox)


def session_text() -> str:
    return "\n".join(f"{s.session_key} {s.get_decoded()!r}" for s in Session.objects.all())


def task_results_text() -> str:
    # Progress lives in the database (docs/architecture.md §5): there must be no result store to leak into.
    assert app.conf.task_ignore_result
    assert not app.conf.result_backend or str(app.conf.result_backend).startswith("disabled")
    return ""


# The test


def test_no_trace_of_any_key_in_any_sink_after_every_flow(
    alice, bob, charlie, double, settings, tmp_path, figures, monkeypatch
):
    totp.freeze(monkeypatch)  # the authenticator app enrolled below computes its code for that instant
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 2
    double.hang_seconds = 3  # the `slow` fault outlasts the deadline
    broker_url = settings.CELERY_BROKER_URL
    responses: list[tuple[str, str]] = []
    routes: set[str] = set()
    as_alice = Browser(client_for(alice), responses, routes)

    with (
        canary.every_log_record() as records,
        canary.project_handler_output() as handler_output,
        published_messages() as messages,
        redis_commands(broker_url) as commands,
        celery_worker(tmp_path, CELERY_WORKER_CONCURRENCY="16") as worker,
    ):
        # Keys: valid, refused (401, nothing stored), fal (no free check: unverified), and keys whose
        # every call fails (for generations that exhaust their retries and for a 401 mid-generation).
        as_alice.get("/keys/")
        _add_key(as_alice, "openai", OPENAI, "OpenAI")
        _add_key(as_alice, "openai", OPENAI_REFUSED, "OpenAI refused", expect=200)
        _add_key(as_alice, "openai", OPENAI_BUSY, "OpenAI busy")
        _add_key(as_alice, "fal", FAL, "fal")
        _add_key(as_alice, "fal", FAL_REFUSED, "fal refused")
        _add_key(as_alice, "fal", FAL_BUSY, "fal busy")
        openai_key, fal_key = _key(alice, "OpenAI"), _key(alice, "fal")
        assert not ProviderKey.objects.filter(label="OpenAI refused").exists()
        for key in (openai_key, fal_key):
            as_alice.post(f"/keys/{key.code}/retest/")

        as_alice.get("/personas/new/")
        as_alice.post("/personas/new/", {"name": "Ana Canary", "role": "barista", "art_style": "photo"})
        persona = Persona.objects.get(name="Ana Canary")
        as_alice.get(f"/generate/?persona={persona.code}")

        # Wave 1: every fault but the 401, scripted on the double, consumed by concurrent generations
        # (a retried fault lands on whichever call comes next); keys that always fail run beside them.
        for provider in ("openai", "fal"):
            double.script(provider, sorted(FAULTS - {"invalid_key"}))
        wave = [_generate(as_alice, key, persona) for key in (openai_key, fal_key) for _ in range(WAVE)]
        always_failing = [
            _generate(as_alice, _key(alice, label), persona)
            for label in ("OpenAI busy", "fal busy", "fal refused")
        ]
        finished = _wait_final(as_alice, wave + always_failing)
        # Wave 2: the provider rejects the key mid-generation (OpenAI echoes part of it in its 401).
        double.script("openai", ["invalid_key"])
        double.script("fal", ["invalid_key"])
        finished += _wait_final(as_alice, [_generate(as_alice, k, persona) for k in (openai_key, fal_key)])

        # The user replaces both rejected keys (one refused attempt first) and generates again.
        as_alice.get(f"/keys/{openai_key.code}/replace/")
        as_alice.post(
            f"/keys/{openai_key.code}/replace/", {"api_key": OPENAI_REPLACEMENT_REFUSED}, expect=200
        )
        as_alice.post(f"/keys/{openai_key.code}/replace/", {"api_key": OPENAI_REPLACEMENT})
        as_alice.post(f"/keys/{fal_key.code}/replace/", {"api_key": FAL_REPLACEMENT})
        openai_key.refresh_from_db()
        fal_key.refresh_from_db()
        replaced = _wait_final(as_alice, [_generate(as_alice, k, persona) for k in (openai_key, fal_key)])
        assert [g.status for g in replaced] == ["succeeded", "succeeded"], [g.error_message for g in replaced]
        finished += replaced
        finished.append(_generate_with_previews(as_alice, openai_key, persona, double))
        # References (issue 19): a photo uploaded to the persona, an edit on each provider, more like this.
        finished += _references_flow(as_alice, persona, [openai_key, fal_key])

        # Reconciliation: usage keys in their own section, "Reconcile now" for both providers (the worker
        # decrypts the usage keys and reads the double's reports), the runs' pages, the owner's key choice.
        # The fal generations' payloads were deleted at fal by the worker's follow-up task meanwhile.
        _reconcile(as_alice)

        _visit_pages(as_alice, finished, persona)
        _visit_error_pages(alice, bob, charlie, finished, openai_key, responses, routes)
        _visit_team_pages(alice, bob, charlie, responses, routes)
        _visit_admin(responses, routes)

        for key in ProviderKey.objects.filter(workspace=workspace_of(alice)):
            as_alice.get(f"/keys/{key.code}/delete/")
            as_alice.post(f"/keys/{key.code}/delete/")
        as_alice.get("/keys/")
        assert not ProviderKey.objects.exists()
        _visit_account_pages(alice, responses, routes)  # last: a new password ends alice's sessions

        control = _publish_broker_control()
    worker_log = worker.log()

    _check_outcomes(finished)

    # Positive control: every key that was sent reached the provider (the refused ones too).
    received = double.received_credentials()
    assert set(CANARIES) <= received, set(CANARIES) - received
    provider_log = repr([entry.as_dict() for entry in double.requests()])
    assert set(canary.hits(provider_log, CANARIES)) >= set(CANARIES)

    broker_stored = redis_text(broker_url) if broker_url.startswith("redis") else broker_folder_text()
    _delete_broker_control(control)
    broker_in_transit = "\n".join(messages + commands)
    sinks = {
        "database (every row of every table)": canary.database_text(),
        "sessions (decoded)": session_text(),
        "broker at rest": broker_stored + "\n" + decoded_bodies(broker_stored),
        "broker messages in transit": broker_in_transit + "\n" + decoded_bodies(broker_in_transit),
        "log records as created (DEBUG)": "\n".join(records),
        "log output of the project's handlers": handler_output.getvalue(),
        "worker log (DEBUG)": worker_log,
        "responses (bodies, headers, cookies)": "\n".join(f"{name}\n{text}" for name, text in responses),
        "media files": media_text(),
        "sent email": email_text(),
        "task results": task_results_text(),
    }
    # Each reader saw real data: a search of an empty or unreadable sink would prove nothing.
    generation_code = str(replaced[0].code)
    assert alice.email in sinks["database (every row of every table)"]
    assert control in decoded_bodies(broker_stored), "the broker reader must decode stored messages"
    assert "generation.tasks.run_generation" in sinks["broker messages in transit"]
    assert generation_code in sinks["log records as created (DEBUG)"]
    assert "keys.services" in sinks["log output of the project's handlers"]
    assert "generation.tasks.run_generation" in worker_log and "DEBUG" in worker_log
    assert generation_code in sinks["responses (bodies, headers, cookies)"]
    assert "PNG" in sinks["media files"] and "WEBP" in sinks["media files"]
    assert "/accounts/password/reset/key/" in sinks["sent email"]

    found = {name: canary.hits(text, CANARIES) for name, text in sinks.items()}
    summary = {
        "canary_sweep": {
            "broker": broker_url.split(":")[0],
            "database": django_settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
            "keys": len(CANARIES),
            "generations": len(finished),
            "requests": len(responses),
            "routes": _route_coverage(routes),
            "sinks": len(sinks),
            "bytes": sum(len(text.encode("utf-8", "replace")) for text in sinks.values()),
            "hits": sum(len(h) for h in found.values()),
            "per_sink_bytes": {name: len(text.encode("utf-8", "replace")) for name, text in sinks.items()},
        }
    }
    figures(summary)
    assert found == {name: [] for name in sinks}


def _add_usage_key(browser: Browser, provider: str, secret: str, label: str, expect: int = 302) -> None:
    data = {"usage-provider": provider, "usage-label": label, "usage-api_key": secret}
    browser.post("/keys/usage/add/", data, expect=expect)


def _reconcile(browser: Browser) -> None:
    """Add usage keys, reconcile with both providers in the worker, open the runs, choose a key id."""
    _add_usage_key(browser, "openai", OPENAI_USAGE_REFUSED, "OpenAI usage refused", expect=200)
    _add_usage_key(browser, "openai", OPENAI_USAGE, "OpenAI usage")
    _add_usage_key(browser, "fal", FAL_USAGE, "fal usage")
    runs = []
    for provider in ("openai", "fal"):
        response = browser.post("/usage/reconcile/", {"provider": provider})
        runs.append(Reconciliation.objects.get(code=response.url.strip("/").split("/")[-1]))
    deadline = time.monotonic() + 60
    while Reconciliation.objects.filter(status="running").exists() and time.monotonic() < deadline:
        time.sleep(0.25)
    for run in runs:
        run.refresh_from_db()
        assert run.status == "done", (run.provider, run.message)
        browser.get(f"/usage/reconciliations/{run.code}/")
    openai_run = runs[0]
    match = next(m for m in openai_run.key_matches if m["seen"])
    data = {"run": str(openai_run.code), "key": match["key_code"], "provider_key_id": match["seen"][0]}
    browser.post("/usage/key-matches/", data)
    assert KeyUse.objects.filter(purpose="reconcile", outcome="ok").count() == 2
    assert KeyUse.objects.filter(purpose="payloads").exists()


def _visit_pages(browser: Browser, generations: list[Generation], persona: Persona) -> None:
    """Open every page a user would open after generating: lists, history, images, personas."""
    for path in ("/", "/keys/", "/personas/", "/gallery/", "/workspace/", "/generate/"):
        browser.get(path)
    browser.get("/generate/quote/?model=gpt-image-2&size=1024x1024&quality=low&n=1")
    browser.get(f"/personas/{persona.code}/")
    browser.post(f"/personas/{persona.code}/duplicate/")
    copy = Persona.objects.exclude(pk=persona.pk).get(workspace=persona.workspace)
    browser.get(f"/personas/{copy.code}/delete/")
    browser.post(f"/personas/{copy.code}/delete/")
    for path in ("/usage/", "/usage.csv"):
        if _route(path) != "(no route)":
            browser.get(path)
    shown = []
    for generation in generations:
        for image in generation.images.all():
            browser.get(f"/images/{image.code}/")
            browser.get(f"/images/{image.code}/thumb/")
            browser.get(f"/images/{image.code}/?download=1")
            browser.get(f"/gallery/{image.code}/?q=portrait")
            browser.post(f"/gallery/{image.code}/favourite/", {"favourite": "1", "next": "/gallery/"})
            shown.append(image)
            break
    browser.get("/gallery/?favourites=1&q=a")
    browser.post("/gallery/download/", {"image": [str(image.code) for image in shown]}, expect=200)
    # Delete one, but not the first (the error pages below ask for it as another tenant) nor the last of
    # its format (the media files sink must still hold a PNG and a WebP).
    deletable = [
        image
        for image in shown[1:]
        if any(other is not image and other.content_type == image.content_type for other in shown)
    ]
    if deletable:
        browser.get(f"/gallery/{deletable[-1].code}/delete/")
        browser.post(f"/gallery/{deletable[-1].code}/delete/")


def _visit_error_pages(
    alice: User,
    bob: User,
    charlie: User,
    generations: list[Generation],
    key: ProviderKey,
    responses: list[tuple[str, str]],
    routes: set[str],
) -> None:
    """Another tenant's objects (404), a member's forbidden action (403), a request without CSRF (403)."""
    as_charlie = Browser(client_for(charlie), responses, routes)
    image = next(i for g in generations for i in g.images.all())
    as_charlie.get(f"/generations/{generations[0].code}/", expect=404)
    as_charlie.get(f"/generations/{generations[0].code}/status/", expect=404)
    as_charlie.post(f"/generations/{generations[0].code}/cancel/", expect=404)
    # Cancelling a finished generation: nothing to cancel, said on its page.
    Browser(client_for(alice), responses, routes).post(f"/generations/{generations[0].code}/cancel/")
    as_charlie.get(f"/images/{image.code}/", expect=404)
    as_charlie.get(f"/gallery/{image.code}/", expect=404)
    as_charlie.post(f"/gallery/{image.code}/favourite/", {"favourite": "1"}, expect=404)
    as_charlie.post(f"/gallery/{image.code}/delete/", expect=404)
    as_charlie.post("/gallery/download/", {"image": [str(image.code)]}, expect=404)
    as_charlie.get(f"/keys/{key.code}/replace/", expect=404)
    as_charlie.post(f"/keys/{key.code}/retest/", expect=404)
    as_charlie.get("/no-such-page/", expect=404)
    run = Reconciliation.objects.first()
    as_charlie.get(f"/usage/reconciliations/{run.code}/", expect=404)
    as_charlie.post("/usage/key-matches/", {"run": str(run.code), "key": str(key.code)}, expect=404)
    as_bob = Browser(client_for(bob), responses, routes)
    as_bob.post(f"/keys/{key.code}/delete/", expect=403)
    as_bob.post("/keys/add/", {"provider": "openai", "label": "bob", "api_key": OPENAI}, expect=403)
    strict = Client(enforce_csrf_checks=True)
    sign_in(strict, alice)
    Browser(strict, responses, routes).post(
        "/keys/add/", {"provider": "openai", "label": "no csrf", "api_key": OPENAI_REPLACEMENT}, expect=403
    )


def _visit_team_pages(
    alice: User, bob: User, charlie: User, responses: list[tuple[str, str]], routes: set[str]
) -> None:
    """Members and invitations (invite, re-send, revoke, join by the link, roles, removal), the audit log,
    a client workspace and switching back; another tenant's 404 and a member's 403 on them."""
    as_alice = Browser(client_for(alice), responses, routes)
    as_alice.get("/workspace/members/")
    as_alice.post("/workspace/members/invite/", {"email": "tess@example.com", "role": "member"})
    as_alice.post("/workspace/members/invite/", {"email": "ezra@example.com", "role": "admin"})
    ezra = Invitation.objects.get(email="ezra@example.com")
    as_alice.post(f"/workspace/invitations/{ezra.code}/resend/")
    as_alice.post(f"/workspace/invitations/{ezra.code}/revoke/")
    visitor = Browser(Client(), responses, routes)
    visitor.get(mailbox.link_in(mailbox.to("tess@example.com")[-1]))
    visitor.post(
        "/accounts/signup/", {"email": "tess@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    tess = Membership.objects.get(user__email="tess@example.com", workspace=workspace_of(alice))
    as_alice.post(f"/workspace/members/{tess.code}/role/", {"role": "admin"})
    Browser(client_for(charlie), responses, routes).post(
        f"/workspace/members/{tess.code}/remove/", expect=404
    )
    Browser(client_for(bob), responses, routes).post(f"/workspace/members/{tess.code}/remove/", expect=403)
    as_alice.post(f"/workspace/members/{tess.code}/transfer/")
    as_dora = Browser(client_for(tess.user), responses, routes)
    as_dora.post(
        "/workspace/switch/", {"workspace": str(tess.workspace.code)}
    )  # a new session: her own first
    as_dora.post(
        f"/workspace/members/{Membership.objects.get(user=alice, workspace=tess.workspace).code}/transfer/"
    )
    as_alice.post(f"/workspace/members/{tess.code}/remove/")
    as_alice.post("/workspace/members/two-factor/", {"required": "on"})  # refused: alice has no two-factor
    as_alice.get("/workspace/log/")
    as_alice.get("/workspace/new/")
    as_alice.post("/workspace/new/", {"name": "Client: Canary"})
    as_alice.post("/workspace/leave/")  # the owner cannot: said on the page
    as_alice.get("/workspace/delete/")
    as_alice.post("/workspace/delete/", {"name": "Client: Canary"})
    as_alice.post("/workspace/switch/", {"workspace": str(workspace_of(alice).code)})


def _visit_account_pages(alice: User, responses: list[tuple[str, str]], routes: set[str]) -> None:
    """Sign up and confirm, reset a password through the emailed link, log in, change it, open every
    two-factor page (enrolling an authenticator app), log out; and the health probes."""
    visitor = Browser(Client(), responses, routes)
    for path in (
        "/",
        "/healthz",
        "/readyz",
        "/accounts/signup/",
        "/accounts/login/",
        "/accounts/password/reset/",
    ):
        visitor.get(path)
    visitor.get("/accounts/password_reset/", expect=302)  # the old path
    visitor.post(
        "/accounts/language/", {"language": "ar", "next": "/accounts/login/"}
    )  # signed out: a cookie
    visitor.post("/accounts/language/", {"language": "en", "next": "/accounts/login/"})
    visitor.post("/accounts/password/reset/", {"email": alice.email})
    link = mailbox.link_in(mailbox.to(alice.email)[-1])
    set_password = visitor.get(link, expect=302).url
    visitor.get(set_password)
    new_password = "a brand new passphrase"
    visitor.post(set_password, {"password1": new_password, "password2": new_password})
    visitor.post("/accounts/login/", {"login": alice.email, "password": new_password})
    visitor.get("/accounts/password/change/")
    changed = "another brand new passphrase"
    visitor.post(
        "/accounts/password/change/",
        {"oldpassword": new_password, "password1": changed, "password2": changed},
    )
    visitor.get("/accounts/email/")
    visitor.get("/accounts/preferences/")
    visitor.post("/accounts/preferences/", {"language": "en", "time_zone": "Asia/Tokyo"})
    visitor.get("/accounts/2fa/")
    visitor.get("/accounts/2fa/totp/activate/", expect=302)  # asks for the password again
    visitor.post("/accounts/reauthenticate/?next=/accounts/2fa/totp/activate/", {"password": changed})
    activate = visitor.get("/accounts/2fa/totp/activate/")
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7=]+)"', activate.content.decode())[1]
    visitor.post("/accounts/2fa/totp/activate/", {"code": totp.totp_code(secret)})
    for path in ("/accounts/2fa/", "/accounts/2fa/recovery-codes/", "/accounts/2fa/webauthn/"):
        visitor.get(path)
    visitor.get("/accounts/2fa/webauthn/add/")
    # The rest of allauth's pages, whatever they answer in this state (a page, or a redirect elsewhere).
    for path in (
        "/accounts/2fa/recovery-codes/generate/",
        "/accounts/2fa/recovery-codes/download/",
        "/accounts/2fa/reauthenticate/",
        "/accounts/2fa/webauthn/reauthenticate/",
        "/accounts/2fa/webauthn/login/",
        "/accounts/2fa/totp/deactivate/",
        "/accounts/password/set/",
        "/accounts/reauthenticate/code/",
        "/accounts/reauthenticate/code/confirm/",
        "/accounts/login/code/confirm/",
        "/accounts/password/reset/done/",
        "/accounts/password/reset/key/done/",
        "/accounts/password_change/",
        "/accounts/reset/MQ/old-token/",
        "/accounts/inactive/",
    ):
        visitor.get(path, expect=None)
    visitor.post("/accounts/logout/")
    # Logging in again takes the authenticator app's code as a second step.
    visitor.post("/accounts/login/", {"login": alice.email, "password": changed})
    visitor.get("/accounts/2fa/authenticate/", expect=None)
    visitor.post("/accounts/2fa/authenticate/", {"code": totp.totp_code(secret)}, expect=None)
    visitor.post("/accounts/logout/", expect=None)
    visitor.post(
        "/accounts/signup/", {"email": "dora@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    visitor.get("/accounts/confirm-email/")
    visitor.post("/accounts/confirm-email/", {"code": mailbox.code_in(mailbox.to("dora@example.com")[-1])})


def _visit_admin(responses: list[tuple[str, str]], routes: set[str]) -> None:
    """Log a superuser in and open the changelist and change page of every model the admin shows."""
    from django.contrib import admin

    User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    as_root = Browser(Client(), responses, routes)
    as_root.get("/admin/login/", expect=302)  # allauth's login, with its limits and two-factor
    as_root.post("/accounts/login/?next=/admin/", {"login": "root@example.com", "password": PASSWORD})
    as_root.get("/admin/")
    shown = {model._meta.label for model in admin.site._registry}
    assert {"keys.ProviderKey", "keys.KeyUse", "generation.Generation"} <= shown
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        as_root.get(base)
        for pk in model._default_manager.values_list("pk", flat=True)[:5]:
            as_root.get(f"{base}{pk}/change/")


def _check_outcomes(generations: list[Generation]) -> None:
    """Every generation ended, every fault that ends one was seen, and nothing stayed reserved."""
    assert all(g.is_final and g.reserved_nanousd == 0 for g in generations)
    for provider, faults in FINAL_FAULTS.items():
        ended = [g for g in generations if g.provider == provider]
        kinds = {g.error_kind for g in ended if g.status == "failed"}
        assert set(faults.values()) | {"invalid_key", "rate_limited"} <= kinds, (provider, kinds)
        assert any(g.status == "succeeded" for g in ended)
    # A cost record for each success and each unusable answer (billed), for each request that may have
    # been charged (sent and never answered; a fal refusal after it started), none where nothing was.
    billed = set(CostRecord.objects.filter(generation__in=generations).values_list("generation", flat=True))
    expected = {g.pk for g in generations if g.status == "succeeded" or g.error_kind in POSSIBLY_OR_BILLED}
    expected |= {g.pk for g in generations if g.provider == "fal" and g.error_kind == "safety"}
    assert billed == expected


def _publish_broker_control() -> str:
    """Leave a harmless marker message on a queue no worker reads, so the broker reader can prove itself."""
    marker = f"broker-control-{uuid.uuid4().hex}"
    app.send_task("canary.control", args=[marker], queue=f"canary-control-{marker[-12:]}")
    return marker


def _delete_broker_control(marker: str) -> None:
    queue = f"canary-control-{marker[-12:]}"
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
        conn.default_channel.queue_delete(queue)
    forget_queue(queue)


def _route_coverage(routes: set[str]) -> str:
    """Return how many of the app's URL patterns (the admin's aside) the sweep requested."""

    def patterns(resolver, prefix: str = "", namespace: str = "") -> Iterator[str]:
        for entry in resolver.url_patterns:
            if hasattr(entry, "url_patterns"):
                ns = entry.namespace or namespace
                yield from patterns(entry, prefix + str(entry.pattern), ns)
            else:
                route = prefix + str(entry.pattern)
                yield f"{namespace}:{route}" if namespace else route

    app_routes = {r for r in patterns(get_resolver()) if not r.startswith("admin:")}
    hit = routes & app_routes
    admin_hit = {r for r in routes if r.startswith("admin:")}
    return f"{len(hit)} of {len(app_routes)} app routes, {len(admin_hit)} admin routes"
