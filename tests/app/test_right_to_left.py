"""Right to left (issue 18): every page says its language and direction, and the stylesheet mirrors.

An Arabic page is `<html lang="ar" dir="rtl">`, an English one `lang="en" dir="ltr"`; the language comes
from the request (Accept-Language here). The coverage check makes a new page fail here until it is
listed. The stylesheet is held to logical properties (margin-inline-start, inset-inline-end, text-align:
start…): a physical left or right would not turn round with `dir`. In Chromium:
tests/browser/test_right_to_left.py.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template, loader
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import translation

from generation.models import Reconciliation
from tests.support.accounts import client_for, sign_in, workspace_of
from tests.support.factories import make_cost, make_generation, make_image, make_persona
from tests.support.keys import store_key

HTML_TAG = re.compile(r"<html lang=\"([a-z-]+)\" dir=\"(ltr|rtl)\">")

# Views of ours that answer no full page to a GET: POST-only actions, files, fragments for htmx.
NOT_PAGES = {
    "generation:duplicate-persona": "POST only",
    "generation:quote": "an htmx fragment of the generate page",
    "generation:status": "an htmx fragment of the generation page",
    "generation:cancel": "POST only",
    "generation:gallery-download": "POST only (a ZIP)",
    "generation:favourite": "POST only",
    "generation:image": "an image file",
    "generation:thumbnail": "an image file",
    "generation:preview": "an image file (a live preview)",
    "generation:reference": "an image file (a reference photo)",
    "generation:upload-references": "POST only (the form is on the persona's page)",
    "generation:delete-reference": "POST only",
    "accounts:set-language": "POST only",
    "generation:history-csv": "a CSV file",
    "generation:reconcile": "POST only",
    "generation:key-match": "POST only",
    "keys:add": "POST only (the form is on keys:list)",
    "keys:add-usage": "POST only (the form is on keys:list)",
    "keys:retest": "POST only",
    "teams:invite": "POST only (the form is on teams:members)",
    "teams:require-two-factor": "POST only",
    "teams:change-role": "POST only",
    "teams:remove-member": "POST only",
    "teams:transfer": "POST only",
    "teams:revoke-invitation": "POST only",
    "teams:resend-invitation": "POST only",
    "teams:leave": "POST only",
    "teams:switch-workspace": "POST only",
    "accounts:password_change": "a redirect to allauth's page",
    "accounts:password_reset": "a redirect to allauth's page",
    "accounts:password_reset_confirm": "a redirect to allauth's page",
    "healthz": "a health probe (plain text)",
    "readyz": "a health probe (plain text)",
}
OUR_APPS = ("accounts", "generation", "keys", "teams")


def _our_view_names() -> set[str]:
    """Return the names of every URL of ours (home and our apps' namespaces; allauth's are not ours)."""
    names: set[str] = set()

    def walk(patterns: list, namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                if namespace in OUR_APPS:
                    names.add(f"{namespace}:{pattern.name}")
                elif namespace is None and pattern.name in {"home", "healthz", "readyz"}:
                    names.add(pattern.name)

    walk(get_resolver().url_patterns, None)
    return names


def _pages(alice) -> list[tuple[str, int, bool]]:
    """Return (path, status, signed in) of every page, with the data that they show made first."""
    workspace = workspace_of(alice)
    persona = make_persona(workspace, alice)
    key = store_key(alice, "openai")
    generation = make_generation(workspace, alice, persona=persona)
    image = make_image(generation)
    make_cost(generation)
    run = Reconciliation.objects.create(
        workspace=workspace,
        created_by=alice,
        provider="openai",
        start=datetime.date(2026, 11, 1),
        end=datetime.date(2026, 11, 8),
        status=Reconciliation.Status.DONE,
    )
    return [
        ("/", 200, False),
        ("/accounts/login/", 200, False),
        ("/accounts/signup/", 200, False),
        ("/accounts/password/reset/", 200, False),
        ("/invitations/not-a-token/", 404, False),  # the page that says the link is not valid
        ("/no-such-page/", 404, False),
        ("/", 200, True),
        ("/personas/", 200, True),
        ("/personas/new/", 200, True),
        (f"/personas/{persona.code}/", 200, True),
        (f"/personas/{persona.code}/delete/", 200, True),
        ("/generate/", 200, True),
        (f"/generations/{generation.code}/", 200, True),
        ("/gallery/", 200, True),
        (f"/gallery/{image.code}/", 200, True),
        (f"/gallery/{image.code}/delete/", 200, True),
        ("/usage/", 200, True),
        (f"/usage/reconciliations/{run.code}/", 200, True),
        ("/keys/", 200, True),
        (f"/keys/{key.code}/replace/", 200, True),
        (f"/keys/{key.code}/delete/", 200, True),
        ("/workspace/", 200, True),
        ("/workspace/delete/", 200, True),
        ("/workspace/members/", 200, True),
        ("/workspace/log/", 200, True),
        ("/workspace/new/", 200, True),
        ("/accounts/email/", 200, True),
        ("/accounts/password/change/", 200, True),
        ("/accounts/2fa/", 200, True),
        ("/accounts/preferences/", 200, True),
        ("/no-such-page/", 404, True),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "lang", "direction"), [("ar", "ar", "rtl"), ("en-GB,en;q=0.8", "en", "ltr")]
)
def test_every_page_says_its_language_and_direction(alice, client, accept, lang, direction):
    signed_in = sign_in(client_for(alice), alice)
    seen: set[str] = set()
    for path, status, as_alice in _pages(alice):
        browser = signed_in if as_alice else client
        response = browser.get(path, headers={"accept-language": accept})
        assert response.status_code == status, path
        found = HTML_TAG.findall(response.content.decode())
        assert found == [(lang, direction)], f"{path}: {found}"
        if path != "/no-such-page/":
            seen.add(resolve(path).view_name)
    missing = _our_view_names() - seen - NOT_PAGES.keys()
    assert not missing, f"pages not checked here: {sorted(missing)}"


@pytest.mark.parametrize(("lang", "direction"), [("ar", "rtl"), ("en", "ltr")])
def test_the_500_page_without_a_request_says_its_language_and_direction(lang, direction):
    with translation.override(lang):
        html = loader.get_template("500.html").render()
    assert HTML_TAG.findall(html) == [(lang, direction)]


def test_bdi_isolates_a_value_escaped_also_inside_a_translated_sentence():
    template = Template(
        "{{ email|bdi }} · {% load i18n %}{% blocktranslate with name=email|bdi %}Welcome to {{ name }}.{% endblocktranslate %}"
    )
    html = template.render(Context({"email": "<a>@example.com"}))
    assert html == "<bdi>&lt;a&gt;@example.com</bdi> · Welcome to <bdi>&lt;a&gt;@example.com</bdi>."


# The stylesheet: no physical direction. A declaration that must stay physical goes here with its reason.
PHYSICAL_ALLOWED: dict[str, str] = {}
PHYSICAL = [
    (re.compile(r"(?<![\w-])(margin|padding|border)-(left|right)(-[a-z]+)?\s*:"), "use -inline-start/-end"),
    (re.compile(r"(?<![\w-])(left|right)\s*:"), "use inset-inline-start/-end"),
    (re.compile(r"border-(top|bottom)-(left|right)-radius\s*:"), "use border-start-start-radius and kin"),
    (re.compile(r"(text-align|float|clear|caption-side)\s*:\s*(left|right)\b"), "use start/end"),
    (re.compile(r"background-position[^;]*\b(left|right)\b"), "mirror it under :dir(rtl)"),
    (re.compile(r"translateX\(|translate\(\s*-?[1-9]"), "mirror it under :dir(rtl)"),
    (
        re.compile(r"linear-gradient\(\s*to (left|right)|linear-gradient\(\s*-?\d+deg"),
        "mirror it under :dir(rtl)",
    ),
    (re.compile(r"scaleX\(-1\)"), "only under :dir(rtl)"),
]
# Four-value margin, padding and inset shorthands whose right and left differ are physical too.
SHORTHAND = re.compile(r"(?<![\w-])(margin|padding|inset|border-width|border-radius)\s*:\s*([^;{}]+)")


def _declarations(css: str) -> list[tuple[str, str]]:
    """Return (selector, declaration) pairs of the stylesheet, comments left out."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    pairs = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        for declaration in body.split(";"):
            if declaration.strip():
                pairs.append((" ".join(selector.split()), declaration.strip()))
    return pairs


def _physical(css: str) -> list[str]:
    found = []
    for selector, declaration in _declarations(css):
        if f"{selector} {{ {declaration} }}" in PHYSICAL_ALLOWED:
            continue
        for pattern, advice in PHYSICAL:
            if pattern.search(declaration) and not (advice.startswith("only") and ":dir(rtl)" in selector):
                found.append(f"{selector} {{ {declaration} }}: {advice}")
        shorthand = SHORTHAND.match(declaration)
        if shorthand:
            values = shorthand.group(2).split()
            if len(values) == 4 and values[1] != values[3]:
                found.append(f"{selector} {{ {declaration} }}: right and left differ, use -block/-inline")
    return found


def test_the_stylesheet_has_no_physical_left_or_right():
    css = (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
    assert len(_declarations(css)) > 300  # the parser read the stylesheet
    assert _physical(css) == []


@pytest.mark.parametrize(
    "rule",
    [
        ".a { margin-left: 1rem }",
        ".a { padding-right: 0 }",
        ".a { border-left-width: 2px }",
        ".a { position: absolute; right: 0 }",
        ".a { text-align: left }",
        ".a { float: right }",
        ".a { border-top-left-radius: 4px }",
        ".a { padding: 0 1rem 0 2rem }",
        ".a { transform: translateX(4px) }",
        ".a { transform: scaleX(-1) }",
        ".a { background: linear-gradient(to right, red, blue) }",
    ],
)
def test_the_check_finds_a_physical_rule(rule):
    assert _physical(rule)


@pytest.mark.parametrize(
    "rule",
    [
        ".a { margin-inline-start: 1rem; inset-inline-end: 0; text-align: end; padding: 0 1rem }",
        ".a:dir(rtl) { transform: scaleX(-1) }",
        ".a { top: 0; padding: .2rem .6rem .45rem; border-start-start-radius: 4px }",
    ],
)
def test_the_check_passes_a_logical_rule(rule):
    assert _physical(rule) == []
