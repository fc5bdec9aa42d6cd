"""The worker's pipeline, run in-process against the provider double over loopback HTTP."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.views.debug import ExceptionReporter

from accounts.services import create_account
from generation import budgets, pipeline, tasks
from generation.models import CostRecord, GeneratedImage, Generation, UnavailableModel
from keys import services as vault
from keys.models import KeyUse, ProviderKey
from provider_double import FAULTS
from providers import decisions, fal_queue, openai_images
from providers.base import ErrorKind, ProviderError
from tests.support.accounts import client_for, workspace_of
from tests.support.generation import run_in_threads, start
from tests.support.keys import FAL_KEY, OPENAI_KEY, make_key
from tests.support.prices import FLUX_MAX, fal_image, unit_prices

pytestmark = pytest.mark.django_db

FLUX = fal_image()  # one flux-2-max 1024² image, exact


@pytest.fixture(autouse=True)
def _fast(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 2
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)  # retries without waiting


def _run(generation: Generation) -> Generation:
    pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    return generation


def test_openai_generation_stores_images_thumbnails_and_the_exact_cost(alice, double):
    key = make_key(alice, "openai")
    generation = _run(start(alice, key, "gpt-image-1.5", size="1024x1024", quality="low", n=2))
    assert generation.status == "succeeded", generation.error_message
    images = list(generation.images.order_by("index"))
    assert [(i.width, i.height, i.content_type) for i in images] == [(1024, 1024, "image/png")] * 2
    assert all(i.thumbnail.name.endswith(".webp") for i in images)
    cost = CostRecord.objects.get(generation=generation)
    usage = cost.usage
    assert usage["output_tokens"] == 2 * 272
    price = unit_prices("gpt-image-1.5")
    assert (
        cost.amount_nanousd
        == usage["input_tokens"] * price["text_input"] + usage["output_tokens"] * price["image_output"]
    )
    assert cost.amount_nanousd <= generation.quote_nanousd
    assert cost.price_version and cost.unit_prices["image_output"] == price["image_output"]
    assert cost.provider_request_ids and cost.provider_request_ids[0].startswith("req_")
    assert generation.reserved_nanousd == 0
    assert generation.attempts == 1
    key.refresh_from_db()
    assert key.status == "valid" and key.use_count == 1


def test_fal_generation_makes_one_request_per_image_and_bills_megapixels(alice, double):
    key = make_key(alice, "fal")
    generation = _run(start(alice, key, "fal-ai/flux-2-max", size="1536x1024", n=2))
    assert generation.status == "succeeded", generation.error_message
    assert double.count("fal.submit") == 2
    assert [(i.width, i.height) for i in generation.images.all()] == [(1536, 1024)] * 2
    cost = CostRecord.objects.get(generation=generation)
    assert cost.amount_nanousd == 2 * fal_image(FLUX_MAX, "1536x1024") == generation.quote_nanousd
    assert [r["request_id"] for r in generation.provider_requests] == cost.provider_request_ids
    key.refresh_from_db()
    assert key.status == "valid"  # the first generation proves a fal key


def test_a_retryable_fault_that_clears_ends_in_success(alice, double):
    key = make_key(alice, "openai")
    double.script("openai", ["rate_limit", "server_error"])
    generation = _run(start(alice, key, "gpt-image-2"))
    assert generation.status == "succeeded"
    assert generation.attempts == 3
    assert double.count("openai.generate") == 3
    assert CostRecord.objects.filter(generation=generation).count() == 1
    _check_nothing_left(alice)


@pytest.mark.parametrize(
    ("faults", "submits"),
    [(["rate_limit", "server_error"], 3), (["gateway_timeout", "completed_error"], 3)],
    ids=["at submit", "at result"],
)
def test_a_fal_fault_that_fails_twice_then_clears_ends_in_success_billed_once(alice, double, faults, submits):
    key = make_key(alice, "fal")
    double.script("fal", faults)
    generation = _run(start(alice, key, "fal-ai/flux-2-max", size="1024x1024"))
    assert generation.status == "succeeded", generation.error_message
    assert double.count("fal.submit") == submits
    assert generation.images.count() == 1
    # fal bills completed requests only: the failed ones cost nothing.
    assert CostRecord.objects.get(generation=generation).amount_nanousd == FLUX
    _check_nothing_left(alice)


def test_fal_resubmits_a_request_that_failed_on_its_side(alice, double):
    key = make_key(alice, "fal")
    double.script("fal", ["completed_error"])
    generation = _run(start(alice, key, "fal-ai/flux-2-max"))
    assert generation.status == "succeeded"
    assert double.count("fal.submit") == 2
    assert CostRecord.objects.get(generation=generation).amount_nanousd == FLUX


def _failing_on(function, errors: dict[int, Exception]):
    """Return `function` raising errors[n] on its n-th call (counting from 1), answering otherwise."""
    calls = [0]

    def flaky(*args, **kwargs):
        calls[0] += 1
        if calls[0] in errors:
            raise errors[calls[0]]
        return function(*args, **kwargs)

    return flaky


def _failing_first(function, *errors):
    """Return `function` raising each of `errors` on its first calls, then answering."""
    return _failing_on(function, dict(enumerate(errors, start=1)))


@pytest.mark.parametrize("kind", [ErrorKind.SERVER_ERROR, ErrorKind.CONNECTION, ErrorKind.TIMEOUT])
def test_fal_fetches_a_finished_request_again_instead_of_paying_for_another(alice, double, monkeypatch, kind):
    """COMPLETED means billed: when only the image download fails, submitting again would bill twice."""
    failure = ProviderError(kind, "The CDN did not answer.")
    monkeypatch.setattr(fal_queue, "_download", _failing_first(fal_queue._download, failure))
    generation = _run(start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max"))
    assert generation.status == "succeeded"
    assert double.count("fal.submit") == 1
    assert double.count("fal.cancel") == 0
    record = CostRecord.objects.get(generation=generation)
    assert (record.amount_nanousd, len(record.provider_request_ids)) == (FLUX, 1)


def test_fal_remembers_a_request_finished_even_when_the_next_fetch_fails_earlier(alice, double, monkeypatch):
    """COMPLETED, the download fails; on the second try the status poll itself fails: still fetch, not pay."""
    cdn = ProviderError(ErrorKind.SERVER_ERROR, "The CDN did not answer.")
    status = ProviderError(ErrorKind.CONNECTION, "fal.ai could not be reached.")
    monkeypatch.setattr(fal_queue, "_download", _failing_first(fal_queue._download, cdn))
    monkeypatch.setattr(fal_queue, "_poll", _failing_on(fal_queue._poll, {2: status}))
    generation = _run(start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max"))
    assert generation.status == "succeeded"
    assert double.count("fal.submit") == 1
    assert CostRecord.objects.get(generation=generation).amount_nanousd == FLUX


def test_fal_records_a_finished_requests_charge_when_every_later_fetch_fails(alice, double, monkeypatch):
    cdn = ProviderError(ErrorKind.SERVER_ERROR, "The CDN did not answer.")
    status = ProviderError(ErrorKind.SERVER_ERROR, "fal.ai answered HTTP 503.")
    monkeypatch.setattr(fal_queue, "_download", _failing_first(fal_queue._download, cdn))
    later = dict.fromkeys(range(2, decisions.MAX_ATTEMPTS + 1), status)
    monkeypatch.setattr(fal_queue, "_poll", _failing_on(fal_queue._poll, later))
    generation = _run(start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max"))
    assert generation.status == "failed"
    assert double.count("fal.submit") == 1
    assert CostRecord.objects.get(generation=generation).amount_nanousd == FLUX


def test_fal_fetches_a_finished_request_again_after_a_rate_limited_fetch(alice, double, monkeypatch):
    send = fal_queue._send
    limited = []

    def rate_limited_result(method, url, **kwargs):
        if method == "GET" and not url.endswith("/status") and not limited:
            limited.append(url)
            raise ProviderError(ErrorKind.RATE_LIMITED, "Slow down.", status_code=429)
        return send(method, url, **kwargs)

    monkeypatch.setattr(fal_queue, "_send", rate_limited_result)
    generation = _run(start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max"))
    assert limited and generation.status == "succeeded"
    assert double.count("fal.submit") == 1


def test_fal_records_the_charge_of_a_finished_request_whose_image_never_arrives(alice, double, monkeypatch):
    failures = [ProviderError(ErrorKind.SERVER_ERROR, "The CDN did not answer.")] * decisions.MAX_ATTEMPTS
    monkeypatch.setattr(fal_queue, "_download", _failing_first(fal_queue._download, *failures))
    generation = _run(start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max"))
    assert generation.status == "failed"
    assert double.count("fal.submit") == 1
    assert CostRecord.objects.get(generation=generation).amount_nanousd == FLUX


def test_fal_fetches_a_request_that_finished_while_its_wait_timed_out(alice, double, monkeypatch):
    """The deadline passes, but the cancel comes too late (ALREADY_COMPLETED): it was billed, so fetch it."""
    timed_out = ProviderError(ErrorKind.TIMEOUT, "fal.ai did not finish the image before the deadline.")
    monkeypatch.setattr(fal_queue, "_poll", _failing_first(fal_queue._poll, timed_out))
    generation = _run(start(alice, make_key(alice, "fal"), "fal-ai/flux-2-max"))
    assert generation.status == "succeeded"
    assert (double.count("fal.submit"), double.count("fal.cancel")) == (1, 1)
    assert CostRecord.objects.get(generation=generation).amount_nanousd == FLUX


OPENAI_FAULTS = [
    # fault, times scripted, error kind, message fragment, billed? (True, False or "possibly")
    ("invalid_key", 1, "invalid_key", "Re-enter the key", False),
    ("forbidden", 1, "forbidden", "lacks access", False),
    ("insufficient_quota", 1, "no_credit", "Top up", False),
    ("moderation", 1, "safety", "safety system", False),
    ("unknown_model", 1, "not_found", "does not offer this model", False),
    ("rate_limit", 4, "rate_limited", "Try again", False),
    ("server_error", 4, "server_error", "Try again later", False),
    # Sent and never answered: possibly charged (a record of unknown amount), never sent again.
    ("slow", 1, "timeout", "did not answer in time", "possibly"),
    ("reset", 1, "connection", "could not be reached", "possibly"),
    # Without previews a stream break is a reset (with them: tests/generation/test_previews.py).
    ("stream_break", 1, "connection", "could not be reached", "possibly"),
    ("gateway_timeout", 4, "server_error", "Try again later", False),
    ("completed_error", 4, "server_error", "Try again later", False),
    ("malformed", 1, "bad_response", "not a usable image", True),
    ("bad_base64", 1, "bad_response", "not a usable image", True),
    ("non_image", 1, "bad_response", "not a complete image", True),
    ("truncated", 1, "bad_response", "not a complete image", True),
    ("wrong_size", 1, "bad_response", "instead of 1024×1024", True),
]

FAL_FAULTS = [
    ("invalid_key", 1, "invalid_key", "Re-enter the key", False),
    ("forbidden", 1, "no_credit", "Top up", False),
    ("insufficient_quota", 1, "no_credit", "Top up", False),
    ("unknown_model", 1, "not_found", "does not offer this model", False),
    ("moderation", 1, "safety", "safety system", "possibly"),  # a 422 may be charged (fal's FAQ)
    ("rate_limit", 4, "rate_limited", "Try again", False),
    ("server_error", 4, "server_error", "Try again later", False),
    ("gateway_timeout", 4, "server_error", "Try again later", False),
    ("completed_error", 4, "server_error", "Try again later", False),
    # A submit sent and never answered may have been queued: possibly charged, never sent again.
    ("slow", 1, "timeout", "did not answer in time", "possibly"),
    ("reset", 1, "connection", "could not be reached", "possibly"),
    ("stream_break", 1, "connection", "could not be reached", "possibly"),
    ("malformed", 1, "bad_response", "not a usable image", True),
    ("bad_base64", 1, "bad_response", "not a usable image", True),
    ("non_image", 1, "bad_response", "not a complete image", True),
    ("truncated", 1, "bad_response", "not a complete image", True),
    ("wrong_size", 1, "bad_response", "instead of 1024×1024", True),
]


def _check_nothing_left(user):
    """Assert that no generation is still queued or running and that nothing stays reserved."""
    assert not Generation.objects.exclude(status__in=Generation.FINAL).exists()
    assert budgets.status(workspace_of(user)).reserved_nanousd == 0


def _check_final(generation, kind, fragment, billed):
    assert generation.status == "failed"
    assert generation.error_kind == kind
    assert fragment in generation.error_message
    assert generation.reserved_nanousd == 0
    assert generation.lease_expires_at is None
    assert not GeneratedImage.objects.filter(generation=generation).exists()
    # A cost record exactly where the provider charged (it sent something, even if unusable) or may have.
    records = CostRecord.objects.filter(generation=generation)
    assert records.exists() == bool(billed)
    if billed == "possibly":
        assert records.get().charge == CostRecord.Charge.POSSIBLE and records.get().amount_nanousd is None
    _check_nothing_left(generation.created_by)


def test_the_fault_drills_cover_every_fault_the_double_can_inject_for_both_providers(figures):
    # docs/providers.md's error tables, malformed JSON, bad image bytes, a deadline passed and a reset: the
    # double injects each of them, so a fault added to it without a drill here fails this test.
    summary = {}
    for provider, table in (("openai", OPENAI_FAULTS), ("fal", FAL_FAULTS)):
        assert sorted(f[0] for f in table) == sorted(FAULTS), provider
        summary[provider] = {
            "faults": len(table),
            "retried_then_failed": sum(times > 1 for _, times, *_ in table),
            "billed": sum(billed is True for *_, billed in table),
            "possibly_billed": sum(billed == "possibly" for *_, billed in table),
            "final_kinds": sorted({kind for _, _, kind, *_ in table}),
        }
    figures({"fault_drills": summary})


@pytest.mark.drill
@pytest.mark.parametrize(
    ("fault", "times", "kind", "fragment", "billed"), OPENAI_FAULTS, ids=[f[0] for f in OPENAI_FAULTS]
)
def test_openai_fault_reaches_its_documented_final_state(
    alice, double, settings, fault, times, kind, fragment, billed
):
    double.hang_seconds = 2
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    key = make_key(alice, "openai")
    double.script("openai", [fault] * times)
    generation = _run(start(alice, key, "gpt-image-2", size="1024x1024"))
    _check_final(generation, kind, fragment, billed)
    key.refresh_from_db()
    assert (key.status == ProviderKey.Status.INVALID) == (fault == "invalid_key")


@pytest.mark.drill
@pytest.mark.parametrize(
    ("fault", "times", "kind", "fragment", "billed"), FAL_FAULTS, ids=[f[0] for f in FAL_FAULTS]
)
def test_fal_fault_reaches_its_documented_final_state(
    alice, double, settings, fault, times, kind, fragment, billed
):
    double.hang_seconds = 2
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    key = make_key(alice, "fal")
    double.script("fal", [fault] * times)
    generation = _run(start(alice, key, "fal-ai/flux-2-max", size="1024x1024"))
    _check_final(generation, kind, fragment, billed)
    if billed is True:
        assert CostRecord.objects.get(generation=generation).amount_nanousd == FLUX


def test_an_unreadable_openai_answer_is_recorded_as_unknown_cost_not_zero(alice, double):
    key = make_key(alice, "openai")
    double.script("openai", ["malformed"])
    generation = _run(start(alice, key, "gpt-image-2"))
    assert CostRecord.objects.get(generation=generation).amount_nanousd is None


def test_running_the_task_twice_calls_the_provider_once(alice, double):
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2")
    pipeline.run_generation(generation.pk)
    pipeline.run_generation(generation.pk)
    assert double.count("openai.generate") == 1
    assert GeneratedImage.objects.filter(generation=generation).count() == 1
    assert CostRecord.objects.filter(generation=generation).count() == 1


@pytest.mark.django_db(transaction=True)
def test_running_the_task_twice_concurrently_calls_the_provider_once(alice, double):
    double.latency = 0.5
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2")
    run_in_threads(pipeline.run_generation, [(generation.pk,)] * 2)
    generation.refresh_from_db()
    assert generation.status == "succeeded"
    assert double.count("openai.generate") == 1
    assert GeneratedImage.objects.filter(generation=generation).count() == 1
    assert CostRecord.objects.filter(generation=generation).count() == 1


def test_a_fal_task_restarted_after_a_crash_polls_instead_of_resubmitting(alice, double):
    key = make_key(alice, "fal")
    generation = start(alice, key, "fal-ai/flux-2-max")
    # A first attempt submitted, saved the request id, then died (its lease ran out).
    from providers import fal_queue
    from providers.base import ImageRequest

    handle = fal_queue.submit(
        key_secret := FAL_KEY,
        "fal-ai/flux-2-max",
        ImageRequest("fal-ai/flux-2-max", "x", 1024, 1024),
    )
    assert key_secret
    Generation.objects.filter(pk=generation.pk).update(
        status="running",
        attempts=1,
        provider_requests=[{"slot": 0, "request_id": handle.request_id}],
        lease_expires_at="2000-01-01T00:00:00Z",
    )
    counts = tasks.sweep_stale_generations()
    assert counts["resumed"] == 1
    generation = _run(generation)
    assert generation.status == "succeeded"
    assert double.count("fal.submit") == 1  # the resumed task only polled


def test_the_sweep_leaves_a_row_that_a_new_attempt_claimed_after_it_looked(alice, double, monkeypatch):
    """The redelivered task claims the stale row between the sweep's query and its finish(): hands off."""
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2")
    Generation.objects.filter(pk=generation.pk).update(
        status="running", attempt=uuid.uuid4(), lease_expires_at="2000-01-01T00:00:00Z"
    )
    newcomer = uuid.uuid4()
    finish = pipeline.finish

    def claimed_first(*args, **kwargs):
        assert pipeline.claim(generation.pk, newcomer) is not None
        return finish(*args, **kwargs)

    monkeypatch.setattr(pipeline, "finish", claimed_first)
    assert tasks.sweep_stale_generations()["failed"] == 0
    generation.refresh_from_db()
    assert (generation.status, generation.attempt) == ("running", newcomer)
    assert generation.reserved_nanousd == generation.quote_nanousd


def test_an_openai_call_interrupted_by_a_crash_is_failed_not_repeated(alice, double):
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2")
    Generation.objects.filter(pk=generation.pk).update(
        status="running", attempts=1, lease_expires_at="2000-01-01T00:00:00Z"
    )
    assert tasks.sweep_stale_generations()["failed"] == 1
    generation.refresh_from_db()
    assert generation.status == "failed"
    assert "may have billed" in generation.error_message
    assert double.count("openai.generate") == 0
    assert generation.reserved_nanousd == 0


def test_a_key_that_no_longer_decrypts_fails_with_re_enter(alice, double):
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2")
    ProviderKey.objects.filter(pk=key.pk).update(workspace=make_key.__globals__["workspace_of"](alice))
    other = make_key(alice, "fal")
    # Swap ciphertexts between rows: each is bound to its own row, so this one no longer decrypts.
    field = next(f.name for f in ProviderKey._meta.fields if "cipher" in f.name or f.name == "secret")
    ProviderKey.objects.filter(pk=key.pk).update(**{field: getattr(other, field)})
    generation = _run(generation)
    assert generation.status == "failed"
    assert "re-entered" in generation.error_message
    assert double.count("openai.generate") == 0


def test_fal_queues_every_image_before_waiting(alice, double):
    double.latency = 1.0
    key = make_key(alice, "fal")
    generation = _run(start(alice, key, "fal-ai/flux-2-max", n=3))
    assert generation.status == "succeeded"
    assert generation.images.count() == 3
    # All three requests are in flight together: every submit comes before the first result.
    endpoints = [r.endpoint for r in double.requests()]
    last_submit = max(i for i, e in enumerate(endpoints) if e == "fal.submit")
    assert endpoints.count("fal.submit") == 3
    assert last_submit < endpoints.index("fal.result")


def test_fal_timeouts_cancel_the_request_before_submitting_again(alice, double, settings):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.3
    double.latency = 1.0  # each request stays in progress longer than the deadline
    key = make_key(alice, "fal")
    generation = _run(start(alice, key, "fal-ai/flux-2-max"))
    assert generation.status == "failed"
    assert generation.error_kind == "timeout"
    assert double.count("fal.cancel") == double.count("fal.submit") == 4
    assert not CostRecord.objects.filter(generation=generation).exists()


def test_a_member_who_leaves_during_the_call_still_gets_the_charge_recorded(alice, bob, double, monkeypatch):
    # The worker's copy of the generation still names bob; the row it locks to finish no longer does.
    real_generate = openai_images.generate

    def generate_while_bob_leaves(*args, **kwargs):
        bob.delete()
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(openai_images, "generate", generate_while_bob_leaves)
    generation = _run(start(bob, make_key(alice, "openai"), "gpt-image-2"))
    assert generation.status == "succeeded", generation.error_message
    cost = CostRecord.objects.get(generation=generation)
    assert cost.created_by_id is None and cost.amount_nanousd
    assert budgets.status(workspace_of(alice)).spent_nanousd == cost.amount_nanousd


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slots", [1, 3])
def test_answers_that_arrive_together_are_checked_through_the_workers_finish_slots(
    alice, double, settings, monkeypatch, slots
):
    # Four calls in flight return together; at most `slots` of them check and thumbnail at once.
    settings.WORKER_FINISH_SLOTS = slots
    double.latency = 0.3
    real_check, lock, active, most = pipeline.check_image, threading.Lock(), [0], [0]

    def slow_check(*args, **kwargs):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        threading.Event().wait(0.5)  # long enough for every other answer to arrive (time.sleep is patched)
        with lock:
            active[0] -= 1
        return real_check(*args, **kwargs)

    monkeypatch.setattr(pipeline, "check_image", slow_check)
    key = make_key(alice, "openai")
    generations = [start(alice, key, "gpt-image-2") for _ in range(4)]
    run_in_threads(pipeline.run_generation, [(g.pk,) for g in generations])
    assert {g.status for g in Generation.objects.filter(pk__in=[g.pk for g in generations])} == {"succeeded"}
    assert most[0] == slots  # never more than the slots, and the slots are used


def test_a_failure_after_a_billed_call_still_records_the_charge(alice, double, monkeypatch):
    def broken_thumbnail(source):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "make_thumbnail", broken_thumbnail)
    generation = _run(start(alice, make_key(alice, "openai"), "gpt-image-2"))
    assert generation.status == "failed"
    assert generation.error_message == pipeline.OUR_SIDE_MESSAGE
    assert not GeneratedImage.objects.filter(generation=generation).exists()
    cost = CostRecord.objects.get(generation=generation)  # OpenAI billed the call: the charge is recorded
    assert cost.amount_nanousd and cost.amount_nanousd <= generation.quote_nanousd
    assert generation.reserved_nanousd == 0


def test_images_stored_for_a_generation_that_could_not_be_saved_are_deleted(
    alice, double, settings, monkeypatch
):
    real_roll_up, calls = pipeline.roll_up, []

    def roll_up_failing_once(records):
        calls.append(records)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real_roll_up(records)

    monkeypatch.setattr(pipeline, "roll_up", roll_up_failing_once)
    generation = _run(start(alice, make_key(alice, "openai"), "gpt-image-2"))
    assert generation.status == "failed"  # the final transaction with the images was rolled back
    assert CostRecord.objects.filter(generation=generation).count() == 1  # the charge, recorded after
    assert not GeneratedImage.objects.filter(generation=generation).exists()
    media = settings.MEDIA_ROOT
    assert [p for p in media.rglob("*") if p.is_file()] == []  # no file left that nothing refers to


def test_a_rejected_key_is_recorded_on_the_generation_it_rejected(alice, double, monkeypatch):
    """Two generations share a key: the 401 of the first must not be written on the second's audit row."""
    key = make_key(alice, "fal")
    first, second = start(alice, key, "fal-ai/flux-2-max"), start(alice, key, "fal-ai/flux-2-max")
    submit = fal_queue.submit

    def second_call_starts_meanwhile(*args, **kwargs):
        # The second generation's call decrypts the key while the first one's is in flight: it is the
        # key's latest use when fal answers the first with a 401.
        shared = ProviderKey.objects.select_related("workspace").get(pk=key.pk)
        vault.decrypt_for_provider_call(shared, generation_code=second.code)
        return submit(*args, **kwargs)

    monkeypatch.setattr(fal_queue, "submit", second_call_starts_meanwhile)
    double.script("fal", ["invalid_key"])
    assert _run(first).error_kind == "invalid_key"
    outcomes = dict(KeyUse.objects.filter(purpose="generate").values_list("generation_code", "outcome"))
    assert outcomes == {first.code: "rejected", second.code: "ok"}


@pytest.mark.parametrize("provider", ["openai", "fal"])
def test_an_error_report_of_a_crashed_call_shows_no_frame_holding_the_key(
    alice, double, monkeypatch, caplog, provider
):
    """A bug inside the provider call: the traceback logged may be rendered with locals (mail_admins)."""
    module = openai_images if provider == "openai" else fal_queue
    name = "generate" if provider == "openai" else "submit"

    def crash(secret, *args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(module, name, crash)
    key = make_key(alice, provider)
    generation = _run(start(alice, key, "gpt-image-2" if provider == "openai" else "fal-ai/flux-2-max"))
    assert generation.status == Generation.Status.FAILED
    (record,) = [r for r in caplog.records if r.exc_info and "unexpected error" in r.getMessage()]
    reporter = ExceptionReporter(None, *record.exc_info, is_email=True)
    assert "crash" in [frame["function"] for frame in reporter.get_traceback_frames()]
    secret = OPENAI_KEY if provider == "openai" else FAL_KEY
    for report in (reporter.get_traceback_text(), reporter.get_traceback_html()):
        assert secret not in report
        assert secret[-12:] not in report


def test_a_model_openai_says_does_not_exist_fails_as_shut_down_and_is_no_longer_offered(
    alice, alice_client, double
):
    key = make_key(alice, "openai")
    double.script("openai", ["unknown_model"])
    generation = _run(start(alice, key, "gpt-image-1.5", size="1024x1024"))
    assert generation.status == "failed"
    assert "GPT Image 1.5 does not exist, so it has been shut down" in generation.error_message
    assert not CostRecord.objects.filter(generation=generation).exists()
    page = alice_client.get("/generate/").content.decode()
    assert 'value="gpt-image-1.5"' not in page
    assert 'value="gpt-image-2"' in page
    # Only for this workspace: another workspace with an OpenAI key is still offered the model.
    dora = create_account(email="dora@example.com", password="correct horse battery staple", name="Dora")
    make_key(dora, "openai")
    assert 'value="gpt-image-1.5"' in client_for(dora).get("/generate/").content.decode()


def test_a_current_model_openai_says_does_not_exist_stays_offered(alice, alice_client, double):
    # No shutdown announced: OpenAI's "does not exist or you do not have access to it" is about the key.
    key = make_key(alice, "openai")
    double.script("openai", ["unknown_model"])
    generation = _run(start(alice, key, "gpt-image-2", size="1024x1024"))
    assert (
        generation.status == "failed" and "does not offer this model to your key" in generation.error_message
    )
    assert not UnavailableModel.objects.exists()
    assert 'value="gpt-image-2"' in alice_client.get("/generate/").content.decode()


def test_a_fal_not_found_does_not_mark_the_model_unavailable(alice, double):
    key = make_key(alice, "fal")
    double.script("fal", ["unknown_model"])
    generation = _run(start(alice, key, "fal-ai/flux-2-max", size="1024x1024"))
    assert generation.status == "failed" and generation.error_kind == "not_found"
    assert not UnavailableModel.objects.exists()
