"""How django-allauth's account flows fit this app (settings ACCOUNT_ADAPTER, docs/decisions.md D31).

- a new account gets its personal workspace and owner membership in the same transaction;
- every address is first mapped to its account's stored spelling (accounts/emails.py);
- the failed-login counter is keyed by the account alone (allauth's own key adds the request's Host
  header, which a client chooses: "example.com:1", "example.com:2", … would each get fresh tries);
- the client address is the one our trusted proxies report (accounts/throttle.py), never a 500;
- every email is written in its recipient's language: an account's saved one, else the language of
  the page that sent it (accounts/preferences.py), and says which (Content-Language);
- a sign-up from an invitation link (accounts/team_views.py keeps the invitation in the session) needs
  no code: holding the link proves the invited address, so that address counts as verified, and the new
  account joins the workspace at once (and starts in it).

TOTP secrets are sealed by the key vault: see keys/mfa_secrets.py (MFA_ADAPTER).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.forms import BaseForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from accounts import preferences, services, teams
from accounts.emails import canonical_email, email_key
from accounts.middleware import SESSION_KEY as WORKSPACE_SESSION_KEY
from accounts.models import Invitation, User
from accounts.throttle import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def save_user(
        self, request: HttpRequest, user: AbstractBaseUser, form: BaseForm, commit: bool = True
    ) -> AbstractBaseUser:
        with transaction.atomic():
            saved = super().save_user(request, user, form, commit=commit)
            if commit and isinstance(saved, User):
                services.create_personal_workspace(saved)
                invitation = invitation_in_session(request, saved.email)
                if invitation is not None:
                    teams.accept(invitation, saved)
                    # The link proved this address: allauth stores it verified (setup_user_email, right
                    # after this) and logs the new account in without mailing a code.
                    self.stash_verified_email(request, saved.email)
                    request.session[WORKSPACE_SESSION_KEY] = str(invitation.workspace.code)
                    request.session.pop(INVITATION_SESSION_KEY, None)
        return saved

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # A reset, a code or "you already have an account": the account's language if it chose one.
        recipient = context.get("user") or User.objects.filter(email_key=email_key(email)).first()
        with translation.override(preferences.user_language(recipient)):
            super().send_mail(template_prefix, email, context)

    def render_mail(
        self,
        template_prefix: str,
        email: str | list[str],
        context: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> EmailMessage:
        headers = {**(headers or {}), "Content-Language": translation.get_language() or "en"}
        return super().render_mail(template_prefix, email, context, headers)

    def clean_email(self, email: str) -> str:
        # allauth lower-cases what the field accepted, which can lengthen it ("İ" becomes two
        # characters): check what would be stored, or PostgreSQL refuses the row (a 500).
        stored = User._meta.get_field("email").max_length
        if stored is not None and len(email) > stored:
            raise ValidationError(_("This email address is too long."), code="max_length")
        return canonical_email(super().clean_email(email))

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        login = str(credentials.get("email") or credentials.get("username") or "")
        return f"login:{email_key(login)}"

    def is_safe_url(self, url: str | None) -> bool:
        # ?next= naming the login page itself would send a signed-in user round in a loop.
        return bool(url) and urlsplit(url or "").path != reverse("account_login") and super().is_safe_url(url)

    def get_client_ip(self, request: HttpRequest) -> str:
        # Without any address (no REMOTE_ADDR: some test clients, a misconfigured server), one shared
        # bucket: stricter, never a 500.
        return client_ip(request) or "0.0.0.0"  # noqa: S104 (a counter's name, not a bind address)


# The invitation whose link this browser opened (its id, never its token): accounts/team_views.py.
INVITATION_SESSION_KEY = "invitation_id"


def invitation_in_session(request: HttpRequest, email: str) -> Invitation | None:
    """Return the pending invitation this session opened, if it is for `email` (any spelling)."""
    pk = request.session.get(INVITATION_SESSION_KEY)
    if pk is None:
        return None
    invitation = Invitation.objects.select_related("workspace").filter(pk=pk).first()
    if invitation is None or not invitation.is_pending or invitation.email_key != email_key(email):
        return None
    return invitation
