"""Bad input on every form: no 5xx, a visible error for what is refused, nothing stored, HTML escaped.

Hypothesis sends each form unicode (right-to-left, emoji, combining marks), control characters (NUL, ESC,
CR LF), values of 10,000 characters and more, missing fields and repeated fields. Whatever it sends, the
answer is a redirect (the input was fine) or the form again with a field or form error, and a refused
submission stores nothing. Run this module on PostgreSQL too: it refuses NUL in text columns, where
SQLite stores it. The Hypothesis tests are marked `drill` (about 10 s): CI may run them in one pass only.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from typing import Any

import hypothesis
import pytest
from allauth.account.forms import EmailAwarePasswordResetTokenGenerator
from django.core.cache import cache
from django.test import Client
from django.utils.html import escape
from django.utils.http import int_to_base36, url_has_allowed_host_and_scheme
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from accounts.models import User
from generation import catalog
from generation.models import Budget, CostRecord, Generation, Persona, SpendLimit
from generation.usage.roll_ups import roll_up
from keys.models import ProviderKey
from tests.support.accounts import PASSWORD, sign_in, workspace_of
from tests.support.factories import make_cost, make_generation, make_image, make_persona
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db

bounded = hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
NASTY = [
    "\x00",
    "Ana\x00Lee",
    "\x1b[31mred\x1b[0m",
    "two\r\nlines",
    "\r",
    "\t\x0b\x0c\x7f\x85",
    "\u202eevil.exe\u202c",
    "שלום עולם",
    "مرحبا بالعالم",
    "🧑🏽‍🎨👩‍👩‍👧‍👦🏳️‍🌈",
    "e\u0301\u0301\u0301\u0301\u0301",
    "Z̴̡̛̗͇a̷̢̛l̴g̸o̵",
    "\u200b\ufeff\u2028\u2029",
    "İSTANBUL ß ﬃ Ⅻ",
    "١٢٣ １２３",
    SCRIPT,
    IMG,
    "{{ 7|add:7 }}{% debug %}",
    "%00%0d%0a",
    "' OR '1'='1",
    "-1",
    "0",
    "1e309",
    "NaN",
    "-Infinity",
    "1e-999999999",
    "9" * 40,
    "0x10",
    " 1 ",
    "1,5",
    "",
    "   ",
]
LONG = ["x" * 10_001, "🧑" * 10_001, "a\x00" * 5_001, "<b>" * 4_000, "ü" * 40_000]
MISSING = object()

junk = st.one_of(
    st.sampled_from(NASTY + LONG),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.text(
        st.characters(codec="utf-8", categories=["Cc", "Cf", "Mn", "So", "Zs"]), min_size=1, max_size=200
    ),
    st.tuples(st.sampled_from(NASTY), st.text(max_size=20)).map("".join),
)


# Addresses a form's email field takes but that are long: 320 characters, or 434 once lower-cased.
LONG_EMAILS = [
    "a" * 64 + "@" + ".".join(["b" * 63] * 4)[:251] + ".com",
    "a@" + ".".join(["İ" * 60] * 3) + ".com",
]
emails = st.one_of(st.sampled_from(LONG_EMAILS), st.emails())


def field(*valid: Any) -> st.SearchStrategy[Any]:
    """Return values for one form field: a valid one, junk, repeated values, or none at all."""
    options = [junk, st.just(MISSING), st.lists(junk, min_size=2, max_size=3)]
    strategies = [value for value in valid if isinstance(value, st.SearchStrategy)]
    values = [value for value in valid if not isinstance(value, st.SearchStrategy)]
    return st.one_of(*strategies, *([st.sampled_from(values)] if values else []), *options)


def form(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Return form data with the given fields; a field drawn as MISSING is left out."""
    return st.fixed_dictionaries(fields).map(lambda d: {k: v for k, v in d.items() if v is not MISSING})


def page(response: Any) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


def has_error(html: str) -> bool:
    return 'class="field-errors"' in html or 'class="form-errors"' in html


def assert_answered(response: Any, *, stored: bool) -> None:
    """A redirect when the input was accepted, else the form with an error; never raw HTML of ours."""
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 200:
        html = page(response)
        assert has_error(html), "refused without saying why"
        assert not stored, "refused, yet something was stored"
        assert SCRIPT not in html and "<img src=x" not in html


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def logged_in(user: User) -> Client:
    client = Client()
    sign_in(client, user)
    return client


def openai_key() -> str:
    return f"sk-proj-{uuid.uuid4().hex}{uuid.uuid4().hex[:12]}"


def fal_key() -> str:
    return f"{uuid.uuid4()}:{uuid.uuid4().hex}"


# Accounts


@bounded
@pytest.mark.drill
@given(
    data=form(
        email=field("new@example.com", "alice@example.com", "Ünïcode@exämple.com", "a@b", emails),
        password1=field("a long passphrase 42", "short"),
        password2=field("a long passphrase 42"),
    )
)
def test_signup_answers_any_input_with_an_account_or_a_field_error(alice, data):
    cache.clear()  # no rate limit between examples: each one is a first try
    users = User.objects.count()
    response = Client().post("/accounts/signup/", data)
    assert_answered(response, stored=User.objects.count() != users)


def test_signup_refuses_an_address_that_lower_casing_makes_too_long(db):
    # 254 characters as typed, 434 once lower-cased ("İ" becomes "i̇"): PostgreSQL refused the row.
    label = "İ" * 60
    email = "a@" + ".".join([label, label, label]) + ".com"
    email = "a" * (254 - len(email)) + email
    password = "a long passphrase 42"
    response = Client().post(
        "/accounts/signup/", {"email": email, "password1": password, "password2": password}
    )
    assert response.status_code == 200
    assert "This email address is too long." in page(response)
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "email",
    ["a" * 64 + "@" + ".".join(["b" * 63] * 3) + ".com", "a@" + ".".join(["İ" * 60] * 3) + ".com"],
    ids=["260 characters", "434 once lower-cased"],
)
def test_a_failed_login_with_a_very_long_address_is_an_error_not_a_crash(db, email):
    response = Client().post("/accounts/login/", {"login": email, "password": "not the password"})
    assert response.status_code == 200
    assert has_error(page(response))


@bounded
@pytest.mark.drill
@given(
    data=form(
        login=field("alice@example.com", "ALICE@example.com", emails),
        password=field(PASSWORD),
        next=field("/personas/", "//evil.example/", "https://evil.example/", "javascript:alert(1)"),
    )
)
def test_login_answers_any_input_with_a_session_or_an_error(alice, data):
    cache.clear()  # no lockout between examples: each one is a first try
    response = Client().post("/accounts/login/", data)
    assert_answered(response, stored=False)
    if response.status_code == 302:  # and never to another site, whatever `next` says
        assert url_has_allowed_host_and_scheme(response["Location"], allowed_hosts={"testserver"})


@bounded
@pytest.mark.drill
@given(data=form(email=field("alice@example.com", "nobody@example.com", emails)))
def test_password_reset_answers_any_input_with_a_redirect_or_a_field_error(alice, data):
    cache.clear()  # no rate limit between examples
    assert_answered(Client().post("/accounts/password/reset/", data), stored=False)


@bounded
@pytest.mark.drill
@given(data=form(password1=field("a brand new passphrase"), password2=field("a brand new passphrase")))
def test_setting_a_new_password_answers_any_input_with_a_redirect_or_a_field_error(alice, data):
    cache.clear()
    alice.refresh_from_db()
    uid, token = int_to_base36(alice.pk), EmailAwarePasswordResetTokenGenerator().make_token(alice)
    client = Client()
    form_url = client.get(f"/accounts/password/reset/key/{uid}-{token}/")["Location"]
    password = alice.password
    response = client.post(form_url, data)
    alice.refresh_from_db()
    assert_answered(response, stored=alice.password != password)


# Keys


@bounded
@pytest.mark.drill
@given(
    data=form(
        provider=field("openai", "fal"),
        label=field("Client A – OpenAI", ""),
        api_key=st.one_of(st.builds(openai_key), st.builds(fal_key), field()),
    )
)
def test_adding_a_key_answers_any_input_with_a_saved_key_or_a_field_error(alice, alice_client, double, data):
    keys = ProviderKey.objects.count()
    response = alice_client.post("/keys/add/", data)
    assert_answered(response, stored=ProviderKey.objects.count() != keys)


@bounded
@pytest.mark.drill
@given(data=form(api_key=st.one_of(st.builds(openai_key), field())))
def test_replacing_a_key_answers_any_input_with_a_new_key_or_a_field_error(alice, alice_client, double, data):
    key = ProviderKey.objects.filter(workspace=workspace_of(alice)).first() or make_key(alice, "openai")
    response = alice_client.post(f"/keys/{key.code}/replace/", data)
    assert_answered(response, stored=ProviderKey.objects.get(pk=key.pk).ciphertext != key.ciphertext)


# Personas

PERSONA_FIELDS = {
    "name": field("Budget Ben"),
    "role": field("barista", ""),
    "age_range": field(*Persona.AgeRange.values),
    "gender_presentation": field(*Persona.Gender.values),
    "art_style": field(*Persona.ArtStyle.values),
    "appearance": field("short grey hair", ""),
    "expression": field("warm smile"),
    "clothing": field("denim jacket"),
    "setting": field("busy café"),
    "notes": field("", "looking at the camera"),
}


@bounded
@pytest.mark.drill
@given(data=form(**PERSONA_FIELDS))
def test_creating_a_persona_answers_any_input_with_a_persona_or_a_field_error(alice, alice_client, data):
    personas = Persona.objects.count()
    response = alice_client.post("/personas/new/", data)
    assert_answered(response, stored=Persona.objects.count() != personas)


@bounded
@pytest.mark.drill
@given(data=form(**PERSONA_FIELDS))
def test_editing_a_persona_answers_any_input_with_the_change_or_a_field_error(alice, alice_client, data):
    persona = Persona.objects.first() or make_persona(workspace_of(alice), alice)
    before = Persona.objects.filter(pk=persona.pk).values().get()
    response = alice_client.post(f"/personas/{persona.code}/", data)
    after = Persona.objects.filter(pk=persona.pk).values().get()
    assert_answered(response, stored={**after, "updated_at": None} != {**before, "updated_at": None})


@bounded
@pytest.mark.drill
@given(data=form(**PERSONA_FIELDS))
def test_the_live_prompt_preview_answers_any_input(alice, alice_client, data):
    response = alice_client.get("/personas/new/", {**data, "preview": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert SCRIPT not in page(response)


# Generate

MODELS = list(catalog.load().models)
SIZES = sorted({size for model in catalog.load().models.values() for size in model.sizes})


@pytest.fixture
def keys_and_persona(alice, double) -> dict[str, list[str]]:
    keys = [make_key(alice, "openai"), make_key(alice, "fal")]
    persona = make_persona(workspace_of(alice), alice)
    return {"keys": [str(key.code) for key in keys], "persona": [str(persona.code), ""]}


def generate_form(valid: dict[str, list[str]]) -> st.SearchStrategy[dict[str, Any]]:
    return form(
        persona=st.one_of(st.sampled_from(valid["persona"]), field(str(uuid.uuid4()))),
        prompt=field("A friendly portrait of Ana, a barista"),
        model=field(*MODELS),
        provider_key=st.one_of(st.sampled_from(valid["keys"]), field("999999")),
        size=field(*SIZES),
        quality=field("low", "medium", "high", ""),
        background=field("auto", "opaque", "transparent", ""),
        n=field("1", "2", "4", "5"),
    )


@bounded
@pytest.mark.drill
@given(st.data())
def test_generate_answers_any_input_with_a_generation_or_a_field_error(
    alice, alice_client, keys_and_persona, data
):
    payload = data.draw(generate_form(keys_and_persona))
    generations = Generation.objects.count()
    response = alice_client.post("/generate/", payload)
    assert_answered(response, stored=Generation.objects.count() != generations)


@bounded
@pytest.mark.drill
@given(st.data())
def test_the_live_quote_and_model_switch_answer_any_input(alice, alice_client, keys_and_persona, data):
    params = data.draw(generate_form(keys_and_persona))
    for url, headers in (("/generate/quote/", {}), ("/generate/", {"HX-Request": "true"})):
        response = alice_client.get(url, params, headers=headers)
        assert response.status_code in (200, 404), f"{url}: {response.status_code}"
        assert SCRIPT not in page(response)


# Workspace budget


@bounded
@pytest.mark.drill
@given(data=form(monthly_cap_usd=field("10", "0.50", "", "1000000", "1000000.01")))
def test_the_budget_answers_any_input_with_a_new_cap_or_a_field_error(alice, alice_client, data):
    before = list(Budget.objects.values())
    response = alice_client.post("/workspace/", data)
    assert_answered(response, stored=list(Budget.objects.values()) != before)


@bounded
@pytest.mark.drill
@given(
    data=form(
        scope=field("member", "key"),
        member=field("bob@example.com"),
        key=field(),
        limit_usd=field("10", "0.50", "", "1000000", "1000000.01"),
    )
)
def test_a_limit_answers_any_input_with_a_new_limit_a_field_error_or_not_found(
    alice, bob, alice_client, data
):
    def rows() -> list[object]:
        return [*SpendLimit.objects.values(), *Budget.objects.values()]  # another scope is the budget's form

    before = rows()
    response = alice_client.post("/workspace/", data)
    if response.status_code == 404:  # a member or key this workspace does not have
        assert rows() == before
        return
    assert_answered(response, stored=rows() != before)


# Filters in query strings (gallery, usage history and its CSV)

FILTER_PAGES = ["/gallery/", "/usage/", "/usage.csv"]


@bounded
@pytest.mark.drill
@given(
    params=form(
        persona=field(),
        model=field("gpt-image-2"),
        q=field("ben"),
        favourites=field("1"),
        page=field("2", "last"),
        month=field("2026-11"),
        **{"from": field("2026-11-01"), "to": field("2026-11-30")},
        provider=field("openai"),
        member=field("alice@example.com"),
        before=field(str(uuid.uuid4())),
        after=field(str(uuid.uuid4())),
    )
)
def test_list_pages_answer_any_filter(alice, alice_client, params):
    for url in FILTER_PAGES:
        response = alice_client.get(url, params)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        assert SCRIPT not in page(response)


@pytest.mark.parametrize(
    "url",
    [
        "/gallery/?model=%00",
        "/gallery/?q=%00",
        "/gallery/?q=a%00b&favourites=1",
        "/usage/?model=%00",
        "/usage/?provider=a%00",
        "/usage/?member=%00",
        "/usage.csv?member=%00",
    ],
)
def test_a_nul_in_a_filter_matches_nothing(alice, alice_client, url):
    # SQLite would compare it; PostgreSQL refuses NUL in a query parameter, which was a 500.
    image = make_image(make_generation(workspace_of(alice), alice))
    response = alice_client.get(url)
    assert response.status_code == 200
    assert str(image.code) not in page(response)


# Periods at the calendar's edges: Python's dates end at 9999-12-31, and a period needs the day or month
# after its last. `/usage/?from=9999-12-31` was a 500 (ValueError: year 10000 in add_months).

PERIOD_EDGES = [
    {"from": "9999-12-31"},
    {"from": "9999-12-02"},
    {"from": "9999-12-01"},
    {"to": "9999-12-31"},
    {"from": "9999-12-31", "to": "9999-12-31"},
    {"from": "2026-11-01", "to": "9999-12-31"},
    {"month": "9999-12"},
    {"month": "9999-01"},
    {"from": "0001-01-01"},
    {"to": "0001-01-01"},
    {"month": "0001-01"},
    {"from": "1999-12-31"},
    {"from": "2026-11-10", "to": "2026-11-01"},
    {"from": "garbage"},
    {"to": "2026-02-30"},
    {"month": "2026-13"},
    {"month": "November", "from": " "},
]


def _period_errors(html: str) -> set[str]:
    return set(re.findall(r'<div class="field-errors" id="filter-(month|from|to)-error">', html))


@pytest.mark.parametrize("params", PERIOD_EDGES, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()))
def test_a_period_past_the_calendars_edges_is_refused_beside_its_field(alice, alice_client, params):
    generation = make_generation(workspace_of(alice), alice)
    make_cost(generation)
    response = alice_client.get("/usage/", params)
    assert response.status_code == 200
    html = page(response)
    refused = _period_errors(html)
    assert refused, "no error beside the period's fields"
    assert refused <= {key for key, value in params.items() if value.strip()}
    for name in refused:
        assert f'aria-describedby="filter-{name}-error filter-period-help" aria-invalid="true"' in html
    assert 'class="banner banner-warning" role="alert">The ' in html
    assert str(generation.code) in html  # the period is ignored: all time
    csv = alice_client.get("/usage.csv", params)
    assert csv.status_code == 200
    assert csv["Content-Disposition"].endswith('-all.csv"')
    assert str(generation.code) in page(csv)


def _iso_day(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


def _iso_month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


# Any day Python has, with the first and last years drawn often.
calendar_days = st.one_of(
    st.dates(), st.dates(min_value=dt.date(9998, 12, 1)), st.dates(max_value=dt.date(2000, 1, 31))
)
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(9998, 12, 31)


def _expected_errors(days: dict[str, dt.date]) -> set[str]:
    """Return the period fields that must be refused: out of bounds, or a range that ends before it starts."""
    used = {k: v for k, v in days.items() if k != "month"} or days  # a range wins over a month
    refused = {name for name, day in used.items() if not FIRST_DAY <= day <= LAST_DAY}
    if not refused and "from" in used and "to" in used and used["from"] > used["to"]:
        refused.add("from")
    return refused


@bounded
@given(
    days=st.fixed_dictionaries(
        {}, optional={"month": calendar_days, "from": calendar_days, "to": calendar_days}
    )
)
def test_any_period_gets_a_page_or_an_error_beside_its_field(alice, alice_client, days):
    params = {k: _iso_month(v) if k == "month" else _iso_day(v) for k, v in days.items()}
    expected = _expected_errors({k: v.replace(day=1) if k == "month" else v for k, v in days.items()})
    response = alice_client.get("/usage/", params)
    assert response.status_code == 200
    assert _period_errors(page(response)) == expected
    csv = alice_client.get("/usage.csv", params)
    assert csv.status_code == 200
    assert csv["Content-Disposition"].endswith('-all.csv"') or not expected


# Wrong content and oversized bodies

POST_FORMS = [
    "/accounts/signup/",
    "/accounts/login/",
    "/accounts/password/reset/",
    "/keys/add/",
    "/personas/new/",
    "/generate/",
    "/workspace/",
]
TWO_MIB = 2 * 1024 * 1024


def _big_bodies() -> dict[str, dict[str, Any]]:
    upload = io.BytesIO(b"\x89PNG" + b"x" * TWO_MIB)
    upload.name = "big.png"
    return {
        "form": {"data": "name=" + "x" * TWO_MIB, "content_type": "application/x-www-form-urlencoded"},
        "multipart field": {"data": {"name": "x" * TWO_MIB}},
        "multipart file": {
            "data": {"name": "Budget Ben", "art_style": "photo", "label": "x", "file": upload}
        },
        "json": {"data": '{"name": "' + "x" * TWO_MIB + '"}', "content_type": "application/json"},
        "bytes": {"data": b"\x00" * TWO_MIB, "content_type": "application/octet-stream"},
    }


def _rows() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (User, Persona, ProviderKey, Budget, Generation))


@pytest.mark.parametrize("kind", ["form", "multipart field", "multipart file", "json", "bytes"])
@pytest.mark.parametrize("url", POST_FORMS)
def test_a_body_over_the_limit_is_refused_and_stores_nothing(alice, double, url, kind):
    client = Client() if url.startswith("/accounts/") else logged_in(alice)
    rows = _rows()
    response = client.post(url, **_big_bodies()[kind])
    assert response.status_code == 413
    assert _rows() == rows


def test_a_body_over_the_limit_is_refused_before_the_csrf_check_reads_it(alice):
    client = Client(enforce_csrf_checks=True)
    body = "login=" + "x" * TWO_MIB
    response = client.post("/accounts/login/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


@pytest.mark.parametrize("url", POST_FORMS)
def test_a_json_body_is_answered_like_an_empty_form(alice, keys_and_persona, url):
    client = Client() if url.startswith("/accounts/") else logged_in(alice)
    rows = _rows()
    response = client.post(url, {"email": "x@example.com", "name": "Ben"}, content_type="application/json")
    if url == "/workspace/":  # no required field: an empty form clears the cap
        assert response.status_code == 302
    elif url.startswith("/accounts/"):
        # allauth's pages answer a JSON request in JSON: the form's errors, and nothing stored.
        assert response.status_code == 400 and response.json()["form"]["errors"] is not None
        assert _rows() == rows
    else:
        assert_answered(response, stored=False)
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"persona": str(uuid.uuid4())}, "Select a valid choice"),
        ({"persona": "not a code"}, "Select a valid choice"),
        ({"provider_key": "999999"}, "Select a valid choice"),
    ],
)
def test_generate_shows_why_it_refuses_a_persona_or_key_it_does_not_know(alice, double, change, error):
    make_key(alice, "openai")
    data = {"prompt": "A portrait", "model": "gpt-image-2", "size": "1024x1024", "quality": "low", "n": "1"}
    response = logged_in(alice).post("/generate/", {**data, **change})
    assert response.status_code == 200
    assert error in page(response)
    assert not Generation.objects.exists()


def test_generate_ignores_quality_and_background_for_a_model_without_them(alice, double):
    make_key(alice, "fal")
    data = {"prompt": "A portrait", "model": "fal-ai/flux-2-pro", "size": "1024x1024", "n": "1"}
    response = logged_in(alice).post("/generate/", {**data, "quality": "high", "background": "transparent"})
    assert response.status_code == 302
    assert Generation.objects.get().quality == ""


# HTML in personas, prompts and labels renders escaped


@pytest.fixture
def hostile(alice, double) -> dict[str, Any]:
    """Create a persona, two keys, a generation with an image and a cost, all named with HTML."""
    client = logged_in(alice)
    response = client.post(
        "/personas/new/",
        {
            "name": SCRIPT,
            "role": IMG,
            "art_style": "photo",
            "appearance": SCRIPT,
            "expression": IMG,
            "clothing": SCRIPT,
            "setting": IMG,
            "notes": SCRIPT,
        },
    )
    assert response.status_code == 302
    persona = Persona.objects.get(name=SCRIPT)
    for label, secret in ((SCRIPT, openai_key()), (IMG, fal_key())):
        provider = "openai" if secret.startswith("sk-") else "fal"
        response = client.post("/keys/add/", {"provider": provider, "label": label, "api_key": secret})
        assert response.status_code == 302
    key = ProviderKey.objects.get(label=SCRIPT)
    response = client.post(
        "/generate/",
        {
            "persona": persona.code,
            "prompt": f"{SCRIPT} {IMG}",
            "model": "gpt-image-2",
            "provider_key": str(key.code),
            "size": "1024x1024",
            "quality": "low",
            "background": "auto",
            "n": "1",
        },
    )
    assert response.status_code == 302, page(response)
    generation = Generation.objects.get()
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.SUCCEEDED)
    image = make_image(generation)
    other = make_generation(workspace_of(alice), alice, persona=persona, prompt=IMG)
    make_image(other)
    record = CostRecord.objects.create(
        workspace=generation.workspace,
        created_by=alice,
        generation=generation,
        provider="openai",
        model=generation.model,
        price_version="test",
        amount_nanousd=11_000_000,
        images=1,
    )
    roll_up([record])
    return {"client": client, "persona": persona, "key": key, "generation": generation, "image": image}


def test_html_in_names_prompts_and_labels_renders_escaped_everywhere(hostile):
    client, persona, key = hostile["client"], hostile["persona"], hostile["key"]
    generation = hostile["generation"]
    pages = {
        "persona list": "/personas/",
        "persona detail": f"/personas/{persona.code}/",
        "persona preview": f"/personas/{persona.code}/?preview=1",
        "persona delete": f"/personas/{persona.code}/delete/",
        "generate prompt": f"/generate/?persona={persona.code}",
        "generate prompt fragment": f"/generate/?fill=prompt&persona={persona.code}",
        "generation detail": f"/generations/{generation.code}/",
        "generation status": f"/generations/{generation.code}/status/",
        "gallery": "/gallery/",
        "gallery search": "/gallery/?q=script",
        "gallery image": f"/gallery/{hostile['image'].code}/",
        "gallery image delete": f"/gallery/{hostile['image'].code}/delete/",
        "dashboard": "/",
        "usage": "/usage/",
        "key list": "/keys/",
        "key replace": f"/keys/{key.code}/replace/",
        "key delete": f"/keys/{key.code}/delete/",
    }
    for name, url in pages.items():
        response = client.get(url, headers={"HX-Request": "true"} if "fragment" in name else {})
        assert response.status_code == 200, name
        html = page(response)
        assert SCRIPT not in html and "<img src=x" not in html, f"{name} renders HTML it was given"
        # Positive control: the page does show the text, escaped.
        assert escape(SCRIPT) in html or escape(IMG) in html, f"{name} does not show the text at all"


@pytest.mark.parametrize("url", POST_FORMS)
def test_each_refused_fields_error_is_the_one_its_input_points_to(alice, keys_and_persona, url):
    """Screen readers announce an error through aria-describedby: the id it names must be on the page."""
    client = Client() if url.startswith("/accounts/") else logged_in(alice)
    data = {"email": "not an email", "name": "", "api_key": "x", "monthly_cap_usd": "-1", "prompt": ""}
    html = page(client.post(url, data))
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    described = [ref for refs in re.findall(r'aria-describedby="([^"]+)"', html) for ref in refs.split()]
    assert [ref for ref in described if ref not in ids] == []
    if url != "/workspace/" and has_error(html):
        assert any(ref.endswith("_error") for ref in described), "an error no input points to"
