"""django-allauth's account forms with our one email normalisation (accounts/emails.py) and limits."""

from __future__ import annotations

from typing import Any

from allauth.account import forms as allauth_forms
from allauth.account.adapter import get_adapter
from allauth.core import ratelimit
from django import forms
from django.conf import settings
from django.db import IntegrityError
from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext_lazy as _

from accounts import limits, preferences
from accounts.emails import as_typed, canonical_email, email_key
from accounts.models import Membership, User


def _as_typed(form: forms.Form, name: str) -> None:
    """Put the form's `name` through as_typed before any validation (accounts/emails.py)."""
    key = form.add_prefix(name)
    if form.is_bound and isinstance(form.data.get(key), str):
        data = form.data.copy() if isinstance(form.data, QueryDict) else dict(form.data)
        data[key] = as_typed(form.data[key])
        form.data = data


class LoginForm(allauth_forms.LoginForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _as_typed(self, "login")
        login = self.fields["login"]
        login.label = _("Email")
        login.widget.attrs["autofocus"] = True
        login.widget.attrs.pop("placeholder", None)
        self.fields["password"].widget.attrs.pop("placeholder", None)
        self.fields["password"].help_text = ""
        if "remember" in self.fields:
            self.fields["remember"].label = _("Keep me logged in on this device")

    def clean_login(self) -> str:
        return canonical_email(super().clean_login())


class SignupForm(allauth_forms.SignupForm):
    """allauth's sign-up, also limited per address: each attempt costs an Argon2 hash and may send mail."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _as_typed(self, "email")
        for name in ("email", "password1", "password2"):
            if name in self.fields:
                self.fields[name].widget.attrs.pop("placeholder", None)
        if "password2" in self.fields:
            self.fields["password2"].label = _("Confirm password")
        if "password1" in self.fields:
            self.fields["password1"].help_text = _(
                "At least 10 characters; not a common password and not all digits."
            )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()
        # allauth compares the two only when the first passed its checks: a weak password typed twice
        # differently would show one error, and the second after the next submission.
        password1, password2 = self.data.get(self.add_prefix("password1")), cleaned.get("password2")
        if password1 and password2 and password1 != password2 and "password2" not in self.errors:
            self.add_error("password2", _("You must type the same password each time."))
        return cleaned

    def try_save(self, request: HttpRequest) -> tuple[Any, Any]:
        address = str(self.cleaned_data.get("email") or "")
        if not limits.consume_per_address(
            request, action="signup_per_address", rate=settings.SIGNUP_PER_EMAIL_LIMIT, address=address
        ):
            # allauth's 429 page, as for its own limits. It says this address was tried often lately,
            # which anyone who tried it knows; not whether it has an account.
            return None, ratelimit.respond_429(request)
        try:
            return super().try_save(request)
        except IntegrityError:
            # Two spellings of one address signed up at once: the unique email key decided; the loser is
            # answered as a taken address is. Any other failure is not ours to hide.
            if not User.objects.filter(email_key=email_key(address)).exists():
                raise
            self.account_already_exists = True
            return super().try_save(request)


class ResetPasswordForm(allauth_forms.ResetPasswordForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _as_typed(self, "email")

    def clean_email(self) -> str:
        super().clean_email()
        # allauth would go on with the address as typed: its per-address limit would then count each
        # spelling apart. The stored spelling is what the limit counts and where the email goes.
        return canonical_email(self.cleaned_data["email"])


class ChangePasswordForm(allauth_forms.ChangePasswordForm):
    """allauth's, with the current password checked like a login: wrong guesses count towards the lockout.

    Its own check_password() is limited only to 5 a minute per user, so a hijacked session could guess
    the password for ever at that pace.
    """

    def clean_oldpassword(self) -> str:
        password: str = self.cleaned_data.get("oldpassword", "")
        assert self.user is not None
        if not get_adapter().reauthenticate(self.user, password):
            raise get_adapter().validation_error("enter_current_password")
        return password


# Teams (accounts/team_views.py)


class InviteForm(forms.Form):
    email = forms.CharField(label=_("Email address"), max_length=254)
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[(Membership.Role.MEMBER, _("Member")), (Membership.Role.ADMIN, _("Admin"))],
        initial=Membership.Role.MEMBER,
        help_text=_(
            "Admins manage keys, the budget, members and invitations; members generate and see usage."
        ),
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(
        choices=[(Membership.Role.MEMBER, _("Member")), (Membership.Role.ADMIN, _("Admin"))]
    )


class WorkspaceForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("For example the client's name."))

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise forms.ValidationError(_("Enter a name."))
        return name


class PreferencesForm(forms.Form):
    """The language pages and emails are in, and the zone times are shown in (accounts/preferences.py)."""

    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=lambda: [(name, name) for name in preferences.time_zone_names()],
        help_text=_(
            "Dates and times on the pages are shown in this zone. Budgets and usage months are counted in UTC "
            "whatever you choose."
        ),
    )
