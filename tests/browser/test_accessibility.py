"""In real Chromium: every page and state has no axe-core violation, at 1280 and 390 px, light and dark (issue 17),
and in Arabic, right to left, at 1280 px in the light scheme (issue 18).

One test per width, each with one browser context that walks the whole app: signed out (the account
pages, the sign-up code page, a 429), then signed in with nothing (empty states, form errors), then with
data built by the factories. Every page and state is loaded once and checked in the light and the dark
scheme (emulated, as a system setting would be: the page's colours follow at once): axe-core, all its
rules, any impact. Once per page: no horizontal scrolling, a few tab stops none of which lands under the
sticky header, and no console error (CSP). The main pages' full-page screenshots, both schemes, go to
ARTIFACTS_DIR (.ci/run keeps them). The problems are collected and reported together, so one run lists
them all. The walk is about two minutes for both widths; the matrix runs in CI's PostgreSQL pass only
(marker `browser`). The Arabic walk (the browser's locale, so Accept-Language: ar) is the same walk, once:
every page must also be `dir="rtl"`; one width and one scheme, since the mirroring does not depend on
them, keep it to a third of the time. The walk finds fields and buttons by name, never by their words,
so it holds with or without the Arabic catalogue.
"""

from __future__ import annotations

import datetime
import os
import re
import tempfile
from pathlib import Path

import pytest
from axe_playwright_python.base import AxeResults
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from generation.models import Generation, Reconciliation
from tests.support.accounts import PASSWORD, client_for, workspace_of
from tests.support.factories import make_cost, make_generation, make_image, make_persona, png_bytes
from tests.support.keys import make_key, store_key

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
SCHEMES = ["light", "dark"]
# (width, language, schemes): English at both widths in both schemes, Arabic once.
VARIANTS = {
    "desktop": ("desktop", "en", SCHEMES),
    "phone": ("phone", "en", SCHEMES),
    "desktop-ar": ("desktop", "ar", ["light"]),
}
# axe-core as the package ships it, put in every document before the page's own scripts (an init script,
# which the page's CSP does not apply to): evaluating its 500 kB on each page would cost half a second.
AXE_SCRIPT = Axe().axe_script
ARTIFACTS_DIR = Path(os.environ.get("ARTIFACTS_DIR") or Path(tempfile.gettempdir()) / "aniavatar-screenshots")

# The focused element, where it is, and where the sticky header ends.
FOCUS_GEOMETRY = """() => {
  const el = document.activeElement;
  const header = document.querySelector('.site-header');
  if (!el || el === document.body || !header || header.contains(el) || el.classList.contains('skip-link')) return null;
  const rect = el.getBoundingClientRect();
  if (rect.width === 0 && rect.height === 0) return null;
  return {what: el.tagName + ' ' + (el.textContent || el.name || el.id || '').trim().slice(0, 40),
          top: rect.top, headerBottom: header.getBoundingClientRect().bottom};
}"""
# Focus the last focusable element of the main content (scrolled into view), for Shift+Tab backwards.
FOCUS_LAST = """() => {
  const all = [...document.querySelectorAll('main a[href], main button, main input, main select, main textarea, main summary')]
    .filter(el => !el.disabled && el.getClientRects().length && el.type !== 'hidden');
  if (all.length) all[all.length - 1].focus();
  return all.length;
}"""


class Walk:
    """Checks pages in one browser context and collects what is wrong with them."""

    def __init__(self, page, width: str, language: str = "en", schemes: list[str] = SCHEMES) -> None:
        self.page = page
        self.width = width
        self.language = language
        self.schemes = schemes
        self.problems: list[str] = []
        self.errors: list[str] = []
        self.checked = 0
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def check(self, name: str, path: str | None = None, *, status: int = 200, shot: bool = False) -> None:
        """Check the page at `path` (or the one showing) in both colour schemes."""
        page = self.page
        if path is not None:
            response = page.goto(path)
            answered = response.status if response else None
            assert answered == status, f"{name}: {path} answered {answered}, not {status}"
        page.wait_for_load_state("load")
        self.checked += 1
        direction = page.evaluate("[document.documentElement.lang, document.documentElement.dir]")
        wanted = [self.language, "rtl" if self.language == "ar" else "ltr"]
        if direction != wanted:
            self.problems.append(f"{name}: lang and dir are {direction}, not {wanted}")
        for scheme in self.schemes:
            page.emulate_media(color_scheme=scheme)  # light-dark() follows at once: no transition
            if shot:
                ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
                language = "" if self.language == "en" else f"-{self.language}"
                shot_file = ARTIFACTS_DIR / f"{name}-{self.width}{language}-{scheme}.png"
                page.screenshot(path=str(shot_file), full_page=True)
            results = AxeResults(page.evaluate("axe.run({resultTypes: ['violations']})"))
            assert results.response["passes"], f"{name}: axe-core checked nothing"
            for violation in results.response["violations"]:
                targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:4])
                self.problems.append(
                    f"{name} ({scheme}): axe {violation['id']} ({violation['impact']}): {targets}"
                )
        if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
            width = page.evaluate("document.documentElement.scrollWidth")
            self.problems.append(f"{name}: scrolls sideways ({width} px wide)")
        if self.language == "en":  # tab order and the sticky header do not change with the direction
            self._tab_stops(name)
        # A 404 or 429 page is loaded with its status, which Chromium logs as a failed resource.
        expected = f"the server responded with a status of {status}"
        self.errors[:] = [error for error in self.errors if status == 200 or expected not in error]
        if self.errors:
            self.problems.append(f"{name}: console errors {self.errors}")
            self.errors.clear()

    def _tab_stops(self, name: str) -> None:
        """Forwards from the skip link's target, then backwards from the main content's last control."""
        page = self.page
        page.evaluate("() => { window.scrollTo(0, 0); document.activeElement?.blur(); }")
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement?.classList.contains('skip-link')"):
            page.keyboard.press("Enter")
        for key in ["Tab"] * 3 + ["FOCUS_LAST"] + ["Shift+Tab"] * 3:
            if key == "FOCUS_LAST":
                page.evaluate(FOCUS_LAST)
            else:
                page.keyboard.press(key)
            spot = page.evaluate(FOCUS_GEOMETRY)
            if spot and spot["top"] < spot["headerBottom"] - 0.5:
                self.problems.append(f"{name}: focused {spot['what']!r} is under the header ({key}): {spot}")


def _shows_errors(page) -> None:
    expect(page.locator(".form-errors, .errorlist, .field-errors, [role=alert]").first).to_be_visible()


def _submit(page) -> None:
    """Click the main form's submit button (found by its place, not its words: the page may be Arabic)."""
    page.locator("main form button[type=submit]").first.click()


def _log_in_as(page, email: str, password: str) -> None:
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(password)
    _submit(page)


def _sign_up(page, email: str) -> None:
    page.goto("/accounts/signup/")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password1]").fill("a long passphrase 42")
    page.locator("input[name=password2]").fill("a long passphrase 42")
    _submit(page)


def _sign_in(context, live_server, user) -> None:
    """Give the browser a session of `user` (signed in with the password, as tests.support.accounts does)."""
    session = client_for(user).cookies[django_settings.SESSION_COOKIE_NAME].value
    cookie = {"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url + "/"}
    context.add_cookies([cookie])


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_page_and_state_is_accessible(browser, live_server, settings, alice, media_root, variant):
    width, language, schemes = VARIANTS[variant]
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SIGNUP_PER_EMAIL_LIMIT = "1/h/key"  # the second sign-up for one address gets the 429 page
    cache.clear()  # the sign-up limits count in the cache, which outlives a test's database
    context = browser.new_context(base_url=live_server.url, viewport=WIDTHS[width], locale=language)
    context.set_default_timeout(15_000)
    context.add_init_script(AXE_SCRIPT)
    walk = Walk(context.new_page(), width, language, schemes)
    page = walk.page
    try:
        # Signed out
        walk.check("landing", "/", shot=True)
        walk.check("login", "/accounts/login/", shot=True)
        _log_in_as(page, "alice@example.com", "not the password")
        _shows_errors(page)
        walk.check("login-error")
        walk.check("sign-up", "/accounts/signup/", shot=True)
        _submit(page)
        _shows_errors(page)
        walk.check("sign-up-error")
        walk.check("password-reset", "/accounts/password/reset/")
        walk.check("not-found-signed-out", "/no-such-page/", status=404)
        _sign_up(page, "nora@example.com")
        expect(page).to_have_url(re.compile(r"/accounts/confirm-email/$"))
        walk.check("sign-up-code")
        context.clear_cookies()  # a pending sign-up would send /accounts/signup/ to the code page
        _sign_up(page, "nora@example.com")
        expect(page.locator(".auth-card h1")).to_be_visible()  # templates/429.html
        walk.check("too-many-attempts", status=429)

        # Signed in, nothing yet
        context.clear_cookies()
        _sign_in(context, live_server, alice)
        walk.check("dashboard-empty", "/")
        walk.check("personas-empty", "/personas/")
        walk.check("persona-new", "/personas/new/")
        walk.check("generate-no-keys", "/generate/")
        walk.check("gallery-empty", "/gallery/")
        walk.check("usage-empty", "/usage/")
        walk.check("keys-empty", "/keys/")
        page.locator("#add-key button[type=submit]").click()
        _shows_errors(page)
        walk.check("keys-form-error")
        walk.check("workspace", "/workspace/", shot=True)
        walk.check("two-factor", "/accounts/2fa/")
        walk.check("email-addresses", "/accounts/email/")
        # Adding a factor asks for the password again, then shows the authenticator app's QR code.
        page.goto("/accounts/2fa/totp/activate/")
        expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/"))
        walk.check("reauthenticate")
        page.locator("input[name=password]").fill(PASSWORD)
        _submit(page)
        expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
        walk.check("two-factor-activate")
        walk.check("change-password", "/accounts/password/change/")
        walk.check("not-found", "/no-such-page/", status=404)

        # Signed in, with data
        workspace = workspace_of(alice)
        persona = make_persona(workspace, alice)
        make_key(alice, "fal")
        store_key(alice, "openai", label="Team OpenAI key")
        done = make_generation(workspace, alice, persona=persona, n=2)
        image = make_image(done, 0)
        make_image(done, 1)
        make_cost(done)
        failed = make_generation(
            workspace,
            alice,
            persona=persona,
            status=Generation.Status.FAILED,
            error_kind="content_policy",
            error_message="The provider refused the prompt.",
        )
        walk.check("dashboard", "/", shot=True)
        walk.check("personas", "/personas/", shot=True)
        walk.check("persona", f"/personas/{persona.code}/", shot=True)
        walk.check("generate", "/generate/", shot=True)
        walk.check("generation-succeeded", f"/generations/{done.code}/", shot=True)
        walk.check("generation-failed", f"/generations/{failed.code}/")
        walk.check("gallery", "/gallery/", shot=True)
        walk.check("gallery-image", f"/gallery/{image.code}/", shot=True)
        walk.check("usage", "/usage/", shot=True)
        walk.check("usage-filter-error", "/usage/?month=2026-13")
        _shows_errors(page)
        walk.check("keys", "/keys/", shot=True)
        running = make_generation(
            workspace, alice, persona=persona, status=Generation.Status.RUNNING, stage="provider"
        )
        walk.check("generation-running", f"/generations/{running.code}/")
        # Drawing with a live preview shown (D36), and fal's queue position.
        drawing = make_generation(
            workspace,
            alice,
            persona=persona,
            status=Generation.Status.RUNNING,
            stage="provider",
            partial_images=2,
            previews_received=1,
        )
        drawing.preview.save("drawing.png", ContentFile(png_bytes(1024, 1024)))
        walk.check("generation-previewing", f"/generations/{drawing.code}/")
        queued_at_fal = make_generation(
            workspace,
            alice,
            provider="fal",
            model="fal-ai/flux-2-max",
            quality="",
            status=Generation.Status.RUNNING,
            stage="provider",
            stage_detail="IN_QUEUE:3",
        )
        walk.check("generation-fal-queue", f"/generations/{queued_at_fal.code}/")
        walk.check("persona-delete", f"/personas/{persona.code}/delete/")
        walk.check("gallery-image-delete", f"/gallery/{image.code}/delete/")
        run = Reconciliation.objects.create(
            workspace=workspace,
            created_by=alice,
            provider="openai",
            start=datetime.date(2026, 11, 1),
            end=datetime.date(2026, 11, 8),
            status=Reconciliation.Status.DONE,
        )
        run.lines.create(workspace=workspace, day=run.start, kind="money", subject="gpt-image-2")
        walk.check("reconciliation", f"/usage/reconciliations/{run.code}/")

        # The header's switch: data-theme="dark" on <html> (a cookie, static/js/head.js) wins over a light
        # system setting; the usage page, the one with the most colours, in that dark.
        page.emulate_media(color_scheme="light")
        if width == "phone":
            page.locator(".menu-toggle").click()
        page.locator("#theme-switch").select_option("dark")
        walk.check("usage-dark-by-switch", "/usage/")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    finally:
        context.close()
    assert walk.checked == 42
    assert not walk.problems, f"{len(walk.problems)} problems:\n" + "\n".join(walk.problems)
