"""Tenant isolation over every route Django knows: another workspace's id is a 404, whatever the method.

The routes come from the URL resolver, not from a list kept by hand, so a new route is swept the moment
it exists. A route with a path parameter needs a builder below that makes its object in alice's
workspace; without one its test fails and says so, so coverage cannot silently shrink.

For each route and each method, charlie (another tenant) asks for alice's object. Whatever alice's own
answer to that method is (which tells what the view accepts), charlie's must be the answer for an id that
does not exist: 404 where the view accepts the method, never a 2xx, 3xx or 403, and nothing changes —
no row, no file, no provider call. Bob (a member of alice's workspace) opening the same pages is the
positive control: the 404s are about tenancy, not about broken routes.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import django.utils.timezone
import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django.utils.html import escape

from accounts.models import Invitation, Membership, User
from accounts.teams import hash_token
from generation.models import CostRecord, Generation
from generation.usage.roll_ups import roll_up
from tests.support.accounts import sign_in, workspace_of
from tests.support.factories import make_generation, make_image, make_persona, png_bytes
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

# Every field a form here might read, with plausible values: a POST that would change the object if the
# workspace check were missing (rename a persona, replace a key, …).
PLAUSIBLE_BODY = {
    "name": "Hijacked by charlie",
    "role": "intruder",
    "art_style": "photo",
    "label": "Hijacked by charlie",
    "provider": "openai",
    "api_key": "sk-proj-CharlieReplacement0123456789abcdefghijklmnopqrstu",
    "prompt": "Hijacked by charlie",
    "monthly_cap_usd": "1.00",
}

# Marks that only alice's objects carry; none may appear on a page charlie sees.
PERSONA_NAME = "Quillon Marsh-7731"
PROMPT = "prompt-marker-9c41: a lighthouse keeper at dusk"
KEY_LABEL = "Alice client key 5512"


# The routes


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or "namespace:<route>" when the pattern has no name
    route: str
    params: tuple[str, ...]
    named: bool

    def url(self, kwargs: dict[str, Any] | None = None) -> str:
        return reverse(self.name, kwargs=kwargs) if self.named else "/" + self.route


def _params(pattern: URLPattern | URLResolver) -> tuple[str, ...]:
    converters = getattr(pattern.pattern, "converters", None)
    if converters is not None:  # path(): <converter:name>
        return tuple(converters)
    regex = pattern.pattern.regex  # re_path(): named and unnamed groups
    return tuple(regex.groupindex) or tuple(f"group{i}" for i in range(regex.groups))


def walk(patterns: list, prefix: str = "", namespace: str = "", params: tuple = ()) -> Iterator[Route]:
    """Yield every URL pattern under `patterns`, with its full route, namespaced name and parameters."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        found = params + _params(pattern)
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace]))
            yield from walk(pattern.url_patterns, route, inner, found)
        else:
            name = ":".join(filter(None, [namespace, pattern.name or route]))
            yield Route(name=name, route=route, params=found, named=bool(pattern.name))


ROUTES = list(walk(get_resolver().url_patterns))

# Routes with a path parameter that the sweep does not build an object for, and why.
EXEMPT = {
    "admin:": "staff only: every admin URL sends a non-staff user to the admin login (tested below)",
    "accounts:password_reset_confirm": "an old reset link's path, now a redirect to the reset form",
    "account_reset_password_from_key": "allauth's uidb36/key link: it names no workspace object",
}


def _exempt(route: Route) -> bool:
    return any(route.name == name or (name.endswith(":") and route.name.startswith(name)) for name in EXEMPT)


ID_ROUTES = [route for route in ROUTES if route.params and not _exempt(route)]
PLAIN_ROUTES = [route for route in ROUTES if not route.params and not _exempt(route)]


# Builders: make the route's object in alice's workspace, return its path parameter(s)


def _persona(alice: User) -> Any:
    return make_persona(workspace_of(alice), alice, name=PERSONA_NAME).code


def _generation(alice: User) -> Generation:
    persona = make_persona(workspace_of(alice), alice, name=PERSONA_NAME)
    return make_generation(workspace_of(alice), alice, persona=persona, prompt=PROMPT)


def _queued_generation(alice: User) -> Generation:
    # Queued: a cancel that leaked across workspaces would change it (and the snapshot would show it).
    generation = _generation(alice)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.QUEUED)
    return generation


def _previewing_generation(alice: User) -> Any:
    # Running, with a live preview stored (D36): the one state in which the preview route answers 200.
    generation = _generation(alice)
    generation.status = Generation.Status.RUNNING
    generation.preview.save("tenancy.png", ContentFile(png_bytes(1024, 1024)), save=False)
    generation.save()
    return generation.code


def _image(alice: User) -> Any:
    return make_image(_generation(alice)).code


def _reference(alice: User) -> Any:
    # A reference photo of alice's persona, stored as an upload is (issue 19): private like avatars.
    from generation import references, services
    from tests.support.factories import png_bytes

    persona = make_persona(workspace_of(alice), alice, name=PERSONA_NAME)
    clean = references.clean_upload(png_bytes())
    (row,) = services.add_references(persona=persona, photos=[(f"{PERSONA_NAME}.png", clean)], by=alice)
    return row.code


def _key(alice: User) -> Any:
    # An OpenAI key: a request that reached the vault would show up in the double's log.
    return make_key(alice, "openai", secret=f"sk-proj-{uuid.uuid4().hex}{uuid.uuid4().hex}").code


def _reconciliation(alice: User) -> Any:
    from generation.models import Reconciliation

    # A finished run with a line that carries alice's marks (as a real run's lines carry model names).
    run = Reconciliation.objects.create(
        workspace=workspace_of(alice),
        created_by=alice,
        provider="openai",
        start=datetime.date(2026, 12, 1),
        end=datetime.date(2026, 12, 8),
        status=Reconciliation.Status.DONE,
        message=PROMPT,
    )
    run.lines.create(workspace=run.workspace, day=run.start, kind="money", subject=PERSONA_NAME)
    return run.code


def _passkey(alice: User) -> Any:
    from allauth.mfa.models import Authenticator

    # A security key of alice's (two-factor belongs to a user, not a workspace: charlie must get 404 too).
    credential = {"id": "alice-key", "clientExtensionResults": {"credProps": {"rk": True}}}
    return Authenticator.objects.create(
        user=alice, type=Authenticator.Type.WEBAUTHN, data={"name": PERSONA_NAME, "credential": credential}
    ).pk


def _membership(alice: User) -> Any:
    # A member of alice's workspace (not bob, whom other tests sign in): removing or promoting them must
    # need alice's workspace.
    dana = User.objects.create_user(email=f"dana-{uuid.uuid4().hex[:8]}@example.com", password="x")
    return Membership.objects.create(
        user=dana, workspace=workspace_of(alice), role=Membership.Role.MEMBER
    ).code


def _invitation(alice: User) -> Invitation:
    return Invitation.objects.create(
        workspace=workspace_of(alice),
        email="dave@example.com",
        email_key="dave@example.com",
        invited_by=alice,
        expires_at=django.utils.timezone.now() + datetime.timedelta(days=7),
        token_hash=hash_token(f"token-{uuid.uuid4().hex}"),
    )


def _invitation_link(alice: User) -> str:
    # The link's token; only its hash is stored, so the builder makes one it knows.
    token = f"sweep-{uuid.uuid4().hex}"
    invitation = _invitation(alice)
    Invitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(token))
    return token


Builder = Callable[[User], Any]
BUILDERS: dict[str, Builder] = {
    "generation:persona": _persona,
    "generation:duplicate-persona": _persona,
    "generation:delete-persona": _persona,
    "generation:upload-references": _persona,
    "generation:reference": _reference,
    "generation:delete-reference": _reference,
    "generation:detail": lambda alice: _generation(alice).code,
    "generation:status": lambda alice: _generation(alice).code,
    "generation:cancel": lambda alice: _queued_generation(alice).code,
    "generation:preview": _previewing_generation,
    "generation:image": _image,
    "generation:thumbnail": _image,
    "generation:gallery-image": _image,
    "generation:favourite": _image,
    "generation:delete-image": _image,
    "keys:retest": _key,
    "keys:replace": _key,
    "keys:delete": _key,
    "generation:reconciliation": _reconciliation,
    "teams:change-role": _membership,
    "teams:remove-member": _membership,
    "teams:transfer": _membership,
    "teams:revoke-invitation": lambda alice: _invitation(alice).code,
    "teams:resend-invitation": lambda alice: _invitation(alice).code,
    "teams:invitation": _invitation_link,
    "mfa_edit_webauthn": _passkey,
    "mfa_remove_webauthn": _passkey,
}

# A user's own things, not the workspace's: a colleague gets the 404 a stranger gets. An invitation link
# is its invitee's: anyone else signed in gets the 404 of a wrong link (its workspace's owner and admins
# see what they sent).
PERSONAL = {"mfa_edit_webauthn", "mfa_remove_webauthn", "teams:invitation"}

# Pages only the workspace's owner and admins may open: bob (a member) is refused with a 403, alice
# gets them. (The POST-only ones among teams:* are checked for bob in tests/accounts/test_teams.py.)
ADMIN_ONLY = {
    "keys:retest",
    "keys:replace",
    "keys:delete",
    "teams:change-role",
    "teams:remove-member",
    "teams:transfer",
    "teams:revoke-invitation",
    "teams:resend-invitation",
}


def build(route: Route, alice: User) -> dict[str, Any]:
    """Make the route's object in alice's workspace and return the URL kwargs that point at it."""
    builder = BUILDERS.get(route.name)
    if builder is None or not route.named:
        pytest.fail(f"add a builder for {route.name} ({route.route}) so the tenancy sweep covers it")
    made = builder(alice)
    return made if isinstance(made, dict) else {route.params[0]: made}


# Clients that re-entered their password lately: allauth asks for it again before showing two-factor
# pages, and that answer (a redirect) would come before the object is looked up.


@pytest.fixture
def alice_client(alice: User) -> Client:
    return sign_in(Client(), alice, reauthenticated=True)


@pytest.fixture
def charlie_client(charlie: User) -> Client:
    return sign_in(Client(), charlie, reauthenticated=True)


# Requests and the state they must not change


def request(client: Client, method: str, url: str) -> Any:
    """Send `method` to `url`; methods with a body carry the plausible form fields."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return client.generic(method, url)
    return client.generic(
        method, url, urlencode(PLAUSIBLE_BODY), content_type="application/x-www-form-urlencoded"
    )


def snapshot() -> dict[str, Any]:
    """Return every row of every table (sessions aside) and every stored file, for before/after checks."""
    rows = {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.label != "sessions.Session"  # the session may carry a message
    }
    media = Path(settings.MEDIA_ROOT)
    rows["files"] = sorted(str(p.relative_to(media)) for p in media.rglob("*")) if media.exists() else []
    return rows


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def body(response: Any) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode(errors="replace")


def shows(page: str, mark: str) -> bool:
    """Return whether `page` holds `mark`, as it is or HTML-escaped."""
    return mark in page or escape(mark) in page


# The sweep


def test_the_resolver_walk_finds_the_routes_we_know():
    names = {route.name for route in ROUTES}
    assert {"generation:persona", "generation:image", "keys:delete", "home", "admin:index"} <= names
    assert len(ID_ROUTES) >= 10


def test_every_builder_names_a_route_that_exists():
    stale = set(BUILDERS) - {route.name for route in ID_ROUTES}
    assert not stale, f"builders for routes that no longer exist (remove them): {sorted(stale)}"


@pytest.mark.parametrize("route", ID_ROUTES, ids=lambda route: route.name)
def test_another_workspace_gets_404_on_every_method(route, alice, charlie_client, double):
    kwargs = build(route, alice)
    missing = {name: 10**9 if isinstance(value, int) else uuid.uuid4() for name, value in kwargs.items()}
    before, calls = snapshot(), len(double.requests())

    for method in METHODS:
        response = request(charlie_client, method, route.url(kwargs))
        unknown = request(charlie_client, method, route.url(missing))
        assert response.status_code in (404, 405), f"{method} {route.route}: {response.status_code}"
        # Existence must not leak: the answer is the one for an id that does not exist.
        assert response.status_code == unknown.status_code, f"{method} {route.route}"
        assert not shows(body(response), PERSONA_NAME) and not shows(body(response), PROMPT)

    assert snapshot() == before, f"charlie's requests to {route.route} changed alice's data"
    assert len(double.requests()) == calls, f"charlie's requests to {route.route} reached a provider"


@pytest.mark.parametrize("route", ID_ROUTES, ids=lambda route: route.name)
def test_every_method_the_view_accepts_is_404_for_another_workspace(
    route, alice, alice_client, charlie_client, double
):
    # Alice's answer tells which methods the view accepts (anything but a 405). One fresh object per
    # method, because some of her requests delete or change it.
    accepted = []
    for method in METHODS:
        url = route.url(build(route, alice))
        refused = request(charlie_client, method, url).status_code
        if request(alice_client, method, url).status_code != 405:
            accepted.append(method)
            assert refused == 404, f"{method} {route.route} as charlie: {refused}"
    assert {"GET", "POST"} & set(accepted), f"{route.route} takes neither GET nor POST from its owner"


@pytest.mark.parametrize("route", ID_ROUTES, ids=lambda route: route.name)
def test_members_of_the_workspace_open_what_charlie_cannot(route, alice, bob, double):
    kwargs = build(route, alice)
    owner, member = Client(), Client()
    sign_in(owner, alice, reauthenticated=True)
    sign_in(member, bob, reauthenticated=True)
    owner_status = owner.get(route.url(kwargs)).status_code
    if owner_status == 405:  # POST-only actions (duplicate, re-test): the owner is not refused either
        assert owner.post(route.url(kwargs), PLAUSIBLE_BODY).status_code in (200, 302)
        return
    assert owner_status == 200, f"GET {route.route} as alice: {owner_status}"
    expected = 403 if route.name in ADMIN_ONLY else 404 if route.name in PERSONAL else 200
    assert member.get(route.url(kwargs)).status_code == expected, f"GET {route.route} as bob"


ADMIN_ROUTES = [route for route in ROUTES if route.name.startswith("admin:") and route.named and route.params]


def test_the_admin_sends_tenants_to_its_login(alice, charlie_client):
    # Charlie is not staff: whatever the id, every admin route answers both methods with its login page.
    assert len(ADMIN_ROUTES) >= 10
    before = snapshot()
    for route in ADMIN_ROUTES:
        kwargs = {name: "accounts" if name == "app_label" else "1" for name in route.params}
        for method in ("GET", "POST"):
            response = request(charlie_client, method, route.url(kwargs))
            assert response.status_code == 302, f"{method} {route.route}: {response.status_code}"
            assert response["Location"].startswith("/admin/login/"), f"{method} {route.route}"
    assert snapshot() == before


# List pages and exports


@pytest.fixture
def alices_world(alice: User, double) -> dict[str, str]:
    """Give alice's workspace one of everything; return the strings that identify it, by what they are."""
    generation = _generation(alice)
    image = make_image(generation)
    key = make_key(alice, "openai")
    key.label = KEY_LABEL
    key.save(update_fields=["label"])
    cost = CostRecord.objects.create(
        workspace=generation.workspace,
        created_by=alice,
        generation=generation,
        provider="openai",
        model=generation.model,
        usage={"input_tokens": 50, "output_tokens": 272},
        price_version="test",
        amount_nanousd=11_090_000,
        provider_request_ids=["req_alice_7731"],
        images=1,
    )
    roll_up([cost])
    return {
        "persona": PERSONA_NAME,
        "persona code": str(generation.persona.code),
        "generation": str(generation.code),
        "image": str(image.code),
        "prompt": PROMPT,
        "label": KEY_LABEL,
        "hint": key.hint,
        "key": str(key.code),
        "request id": "req_alice_7731",
        "cost record": str(cost.code),
        "email": alice.email,
        "workspace": workspace_of(alice).name,
    }


# Pages that show alice's data to her own workspace, each with one mark it must show (positive control).
LIST_PAGES = {
    "home": "workspace",
    "generation:personas": "persona",
    "generation:gallery": "image",
    "generation:generate": "persona",
    "keys:list": "label",
    "generation:workspace": "email",
    "teams:members": "email",
    "generation:history": "persona",
    "generation:history-csv": "generation",
}


@pytest.mark.parametrize("route", PLAIN_ROUTES, ids=lambda route: route.name)
def test_no_page_shows_another_workspaces_rows(route, alices_world, charlie, charlie_client):
    # Charlie has data of his own, so that every page renders in full (the generate form needs a key).
    make_image(make_generation(workspace_of(charlie), charlie, persona=make_persona(workspace_of(charlie))))
    make_key(charlie, "fal")
    url = route.url()
    persona, cost = alices_world["persona code"], alices_world["cost record"]
    # Also with alice's ids in the query string, as the gallery and generate pages (persona) and the
    # usage pages (keyset cursors) take them. A page may echo the id charlie sent, nothing else of hers.
    queries = ["", f"?persona={persona}", f"?persona={persona}&model=gpt-image-2"]
    for query in [*queries, f"?before={cost}", f"?after={cost}"]:
        response = charlie_client.get(url + query)
        assert response.status_code < 500, f"GET {url}{query}"
        page = body(response)
        leaked = [what for what, mark in alices_world.items() if mark not in query and shows(page, mark)]
        assert not leaked, f"GET {url}{query} as charlie shows alice's {leaked}"


@pytest.mark.parametrize("name", sorted(LIST_PAGES))
def test_members_see_their_workspaces_rows_on_list_pages(name, alices_world, bob_client):
    try:
        url = reverse(name)
    except NoReverseMatch:
        pytest.skip(f"{name} is not there (yet)")
    response = bob_client.get(url)
    assert response.status_code == 200
    assert shows(body(response), alices_world[LIST_PAGES[name]])


def test_every_list_page_in_the_design_is_swept():
    swept = {route.name for route in PLAIN_ROUTES}
    assert {"home", "generation:personas", "generation:gallery", "keys:list", "generation:workspace"} <= swept


# Methods: the app changes things only through form POSTs


@pytest.mark.parametrize("route", ID_ROUTES + PLAIN_ROUTES, ids=lambda route: route.name)
def test_no_route_accepts_put_patch_or_delete(route, alice, alice_client, double):
    # Even for the object's owner: a view that answered these like a GET or a POST would be a route
    # whose methods nobody chose (Django's FormView treats PUT as POST).
    kwargs = build(route, alice) if route.params else None
    # Sign-in and password-reset pages are for visitors (the login page sends a signed-in user home).
    visitors = route.name in {"account_login", "account_signup", "account_reset_password"}
    client = Client() if visitors else alice_client
    for method in ("PUT", "PATCH", "DELETE"):
        status = request(client, method, route.url(kwargs)).status_code
        assert status == 405, f"{method} {route.route}: {status}"
