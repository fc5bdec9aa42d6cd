"""The generation form: models limited to providers with a key, live quote, validation, enqueueing."""

from __future__ import annotations

import datetime as dt
import re
from datetime import timedelta

import pytest

from generation import catalog, dates, money, pricing
from generation.models import Generation
from tests.support.accounts import workspace_of
from tests.support.factories import make_generation, make_persona
from tests.support.generation import start
from tests.support.keys import make_key
from tests.support.prices import FLUX_MAX, fal_image, unit_prices, usd

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    """Capture the ids handed to Celery instead of sending them to a broker."""
    from generation import tasks

    ids: list[int] = []
    monkeypatch.setattr(tasks.run_generation, "delay", ids.append)
    return ids


def test_without_a_key_it_links_to_the_keys_page(alice_client):
    response = alice_client.get("/generate/")
    assert b"Add a provider key first" in response.content
    assert b'href="/keys/"' in response.content


def test_it_offers_only_models_of_providers_with_a_key(alice, alice_client, double):
    make_key(alice, "fal")
    page = alice_client.get("/generate/").content.decode()
    assert "Flux 2 Max" in page and "Flux 2 Pro" in page
    assert "GPT Image" not in page


@pytest.mark.parametrize(
    ("today", "warning"),
    [
        (dt.date(2026, 11, 26), "shuts down on 1 Dec 2026"),
        (dt.date(2026, 12, 1), "was scheduled to shut down on 1 Dec 2026"),
        (dt.date(2027, 3, 1), "was scheduled to shut down on 1 Dec 2026"),
    ],
)
def test_retired_models_are_not_offered_and_shutdown_dates_warn(
    alice, alice_client, double, monkeypatch, today, warning
):
    monkeypatch.setattr(dates, "utc_today", lambda: today)
    make_key(alice, "openai")
    page = alice_client.get("/generate/").content.decode()
    assert 'value="gpt-image-1"' not in page
    assert 'value="gpt-image-1.5"' in page
    page = alice_client.get("/generate/?model=gpt-image-1.5").content.decode()
    assert warning in page


def test_the_persona_fills_in_the_prompt(alice, alice_client, double):
    make_key(alice, "openai")
    persona = make_persona(alice.memberships.get().workspace, alice, name="Ana", role="café owner")
    page = alice_client.get(f"/generate/?persona={persona.code}").content.decode()
    assert "who works as café owner" in page


def test_another_workspaces_persona_is_not_used(alice, charlie, charlie_client, double):
    make_key(charlie, "openai")
    persona = make_persona(alice.memberships.get().workspace, alice, name="Secret Sue", role="spy")
    page = charlie_client.get(f"/generate/?persona={persona.code}")
    assert page.status_code == 404


def test_the_quote_is_exact_for_fal(alice, alice_client, double):
    make_key(alice, "fal")
    page = alice_client.get(
        "/generate/quote/", {"model": "fal-ai/flux-2-max", "size": "1536x1024", "n": "3", "prompt": "x"}
    ).content.decode()
    assert usd(3 * fal_image(FLUX_MAX, "1536x1024")) in page  # $0.30 now
    assert "Exact" in page


@pytest.mark.parametrize("previews", [False, True])
def test_the_quote_is_an_upper_bound_for_openai(alice, alice_client, double, previews):
    make_key(alice, "openai")
    ticked = {"previews": "on"} if previews else {}
    page = alice_client.get(
        "/generate/quote/",
        {
            "model": "gpt-image-2",
            "size": "1024x1024",
            "quality": "high",
            "n": "1",
            "prompt": "abcd",
            "previews_shown": "1",
            **ticked,
        },
    ).content.decode()
    # Every prompt byte at the input price + the most output tokens at the output price ($0.21074 now),
    # and ~100 output tokens per preview (two by default) when previews are ticked.
    model, price = catalog.load().get("gpt-image-2"), unit_prices("gpt-image-2")
    tokens = model.max_output_tokens("1024x1024", "high") + (2 * 100 if previews else 0)
    bound = 4 * price["text_input"] + tokens * price["image_output"]
    assert "At most" in page and usd(bound) in page


def test_changing_the_model_rerenders_its_options(alice, alice_client, double):
    make_key(alice, "openai")
    make_key(alice, "fal")
    page = alice_client.get(
        "/generate/", {"model": "fal-ai/flux-2-max"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="generate-options"' in page
    assert "576x1024" in page  # fal sizes
    assert 'name="quality"' not in page  # fal has no quality setting
    assert 'hx-swap-oob="true"' in page  # the price follows


def test_posting_creates_a_queued_generation_with_its_quote_reserved(
    alice, alice_client, double, enqueued, django_capture_on_commit_callbacks
):
    make_key(alice, "openai")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            "/generate/",
            {
                "model": "gpt-image-2",
                "prompt": "A portrait",
                "size": "1024x1024",
                "quality": "low",
                "n": "2",
                "background": "auto",
            },
        )
    generation = Generation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/generations/{generation.code}/"
    assert generation.status == "queued"
    assert generation.n == 2 and generation.quality == "low"
    assert generation.reserved_nanousd == generation.quote_nanousd > 0
    assert generation.created_by == alice
    assert enqueued == [generation.pk]


def test_a_broker_that_is_down_leaves_the_request_queued_not_an_error(
    alice, alice_client, double, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    """The row is committed with its reservation: an error page would invite a second, double request."""
    from kombu.exceptions import OperationalError

    from generation import tasks

    def broker_down(*args):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_generation, "delay", broker_down)
    make_key(alice, "openai")
    data = {"model": "gpt-image-2", "prompt": "A portrait", "size": "1024x1024", "quality": "low", "n": "1"}
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/generate/", data)
    generation = Generation.objects.get()
    assert response.status_code == 302 and response.url == f"/generations/{generation.code}/"
    assert generation.status == "queued" and generation.reserved_nanousd == generation.quote_nanousd
    assert "Connection refused" in caplog.text  # logged for the operator
    sent = []
    monkeypatch.setattr(tasks.run_generation, "delay", sent.append)
    later = generation.created_at + timedelta(minutes=11)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_stale_generations(now=later)["requeued"] == 1
    assert sent == [generation.pk]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"size": "999x999"}, "size"),
        ({"quality": "ultra"}, "quality"),
        ({"n": "9"}, "n"),
        ({"model": "gpt-image-1"}, "model"),
    ],
)
def test_bad_input_gets_an_error_beside_the_field(alice, alice_client, double, enqueued, data, field):
    make_key(alice, "openai")
    base = {"model": "gpt-image-2", "prompt": "A portrait", "size": "1024x1024", "quality": "low", "n": "1"}
    response = alice_client.post("/generate/", {**base, **data})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert f'id="id_{field}_error"'.encode() in response.content
    assert not Generation.objects.exists()
    assert enqueued == []


def test_a_member_can_generate_with_the_workspace_key(alice, bob, bob_client, double, enqueued):
    make_key(alice, "fal")
    response = bob_client.post(
        "/generate/", {"model": "fal-ai/flux-2-max", "prompt": "x", "size": "1024x1024", "n": "1"}
    )
    assert response.status_code == 302
    assert Generation.objects.get().created_by == bob


def test_the_detail_page_polls_until_final_then_stops(alice, alice_client, double, enqueued):
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2")
    page = alice_client.get(f"/generations/{generation.code}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and "Queued" in page
    Generation.objects.filter(pk=generation.pk).update(
        status="failed", error_message="Top up at the provider."
    )
    fragment = alice_client.get(
        f"/generations/{generation.code}/status/", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "hx-trigger" not in fragment
    assert "Top up at the provider." in fragment
    assert "nothing charged" in fragment


@pytest.mark.parametrize("suffix", ["", "status/"])
def test_it_checks_workspace(alice, charlie_client, double, suffix):
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2")
    assert charlie_client.get(f"/generations/{generation.code}/{suffix}").status_code == 404


def test_visitors_are_sent_to_log_in(client):
    response = client.get("/generate/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_choosing_a_persona_offers_its_prompt(alice, alice_client, double):
    make_key(alice, "openai")
    persona = make_persona(alice.memberships.get().workspace, alice, name="Ana", role="café owner")
    fragment = alice_client.get(
        "/generate/", {"persona": str(persona.code), "fill": "prompt"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert fragment.strip().startswith('<div id="prompt-field">')
    assert "who works as café owner" in fragment


# "Generate again": every setting of the earlier request, not the defaults (issue 17, defect 5)


def _selected(page: str, name: str) -> str | None:
    """Return the value of the option selected in the page's <select name=...>, None when none is."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, f"no select named {name}"
    chosen = re.search(r'<option value="([^"]*)"[^>]*\sselected', select.group(1))
    return chosen.group(1) if chosen else None


def test_generate_again_links_to_the_form_with_this_generations_settings(alice, alice_client, double):
    make_key(alice, "fal")
    generation = make_generation(workspace_of(alice), alice, provider="fal", model="fal-ai/flux-2-max")
    page = alice_client.get(f"/generations/{generation.code}/").content.decode()
    assert f'href="/generate/?again={generation.code}"' in page


def test_generate_again_carries_over_a_flux_request_with_two_images(alice, alice_client, double):
    make_key(alice, "openai")
    make_key(alice, "fal", label="Studio fal")
    second = make_key(
        alice,
        "fal",
        "5d1c0b2a-9e8f-4a7b-8c6d-5e4f3a2b1c0d:7f6e5d4c3b2a19081726354453627180",
        label="Personal fal",
    )
    workspace = workspace_of(alice)
    persona = make_persona(workspace, alice, name="Ana", role="café owner")
    generation = make_generation(
        workspace,
        alice,
        persona=persona,
        provider="fal",
        provider_key=second,
        model="fal-ai/flux-2-pro",
        prompt="Ana, edited by hand: a watercolour portrait",
        width=768,
        height=1024,
        quality="",
        n=2,
    )
    page = alice_client.get("/generate/", {"again": str(generation.code)}).content.decode()
    assert _selected(page, "persona") == str(persona.code)
    assert "Ana, edited by hand: a watercolour portrait</textarea>" in page  # the prompt as sent
    assert _selected(page, "model") == "fal-ai/flux-2-pro"
    assert _selected(page, "provider_key") == str(second.code)
    assert _selected(page, "size") == "768x1024"
    assert _selected(page, "n") == "2"
    assert 'name="quality"' not in page  # Flux has none
    # The price shown is that of these settings: two Flux 2 Pro images at 768×1024.
    model = catalog.load().get("fal-ai/flux-2-pro")
    quote = pricing.quote(model, size="768x1024", quality=None, n=2, prompt="")
    assert money.format_usd(quote.amount_nanousd) in page


def test_generate_again_carries_over_quality_and_background(alice, alice_client, double):
    make_key(alice, "openai")
    generation = make_generation(
        workspace_of(alice),
        alice,
        model="gpt-image-1.5",
        width=1536,
        height=1024,
        quality="high",
        background="transparent",
        n=3,
    )
    page = alice_client.get("/generate/", {"again": str(generation.code)}).content.decode()
    assert _selected(page, "model") == "gpt-image-1.5"
    assert _selected(page, "size") == "1536x1024"
    assert _selected(page, "quality") == "high"
    assert _selected(page, "background") == "transparent"
    assert _selected(page, "n") == "3"
    assert _selected(page, "persona") == ""  # none, as the earlier request had


def test_generate_again_with_a_retired_model_keeps_the_prompt_only(alice, alice_client, double):
    make_key(alice, "openai")
    generation = make_generation(
        workspace_of(alice), alice, model="gpt-image-1", prompt="An old favourite", quality="high", n=4
    )
    page = alice_client.get("/generate/", {"again": str(generation.code)}).content.decode()
    assert "An old favourite</textarea>" in page
    assert _selected(page, "model") != "gpt-image-1"
    assert _selected(page, "n") == "1"


@pytest.mark.parametrize("again", ["not-a-uuid", ""])
def test_generate_again_ignores_a_malformed_code(alice, alice_client, double, again):
    make_key(alice, "openai")
    assert alice_client.get("/generate/", {"again": again}).status_code == 200


def test_generate_again_checks_the_workspace(alice, charlie, charlie_client, double):
    make_key(charlie, "openai")
    generation = make_generation(workspace_of(alice), alice, prompt="Alice's secret prompt")
    assert charlie_client.get("/generate/", {"again": str(generation.code)}).status_code == 404


SECOND_FAL = "5d1c0b2a-9e8f-4a7b-8c6d-5e4f3a2b1c0d:7f6e5d4c3b2a19081726354453627180"
FLUX_POST = {"model": "fal-ai/flux-2-max", "prompt": "x", "size": "1024x1024", "n": "1"}


def test_a_key_of_another_provider_is_an_error_never_swapped(alice, alice_client, double, enqueued):
    """Before: an OpenAI key chosen for a fal model was silently replaced by the workspace's fal key."""
    openai = make_key(alice, "openai", label="Team OpenAI")
    make_key(alice, "fal")
    response = alice_client.post("/generate/", {**FLUX_POST, "provider_key": str(openai.code)})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="id_provider_key_error"' in page
    assert "Team OpenAI is a key for OpenAI; Flux 2 Max runs on fal.ai" in page.replace("&#x27;", "'")
    assert not Generation.objects.exists() and enqueued == []


def test_the_key_list_follows_the_model(alice, alice_client, double):
    openai = make_key(alice, "openai", label="Team OpenAI")
    first = make_key(alice, "fal", label="Studio fal")
    second = make_key(alice, "fal", SECOND_FAL, label="Personal fal")
    page = alice_client.get("/generate/", {"model": "fal-ai/flux-2-max"}, HTTP_HX_REQUEST="true")
    options = page.content.decode()
    assert str(first.code) in options and str(second.code) in options
    assert str(openai.code) not in options  # not offered for a fal model


def test_the_chosen_key_is_the_one_that_pays(alice, alice_client, double, enqueued):
    make_key(alice, "fal", label="Studio fal")
    second = make_key(alice, "fal", SECOND_FAL, label="Personal fal")
    alice_client.post("/generate/", {**FLUX_POST, "provider_key": str(second.code)})
    assert Generation.objects.get().provider_key == second


def test_with_two_keys_of_the_provider_a_missing_choice_is_an_error(alice, alice_client, double, enqueued):
    make_key(alice, "fal", label="Studio fal")
    make_key(alice, "fal", SECOND_FAL, label="Personal fal")
    response = alice_client.post("/generate/", FLUX_POST)
    assert 'id="id_provider_key_error"' in response.content.decode()
    assert not Generation.objects.exists()
