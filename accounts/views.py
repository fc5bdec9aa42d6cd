from __future__ import annotations

from typing import Any

from axes.utils import reset as reset_lockouts
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters

from accounts import services
from accounts.forms import DUPLICATE_EMAIL, SignupForm, ThrottledPasswordChangeForm
from accounts.http import require_form_methods
from accounts.models import User


@require_form_methods
@sensitive_post_parameters("password1", "password2")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.create_account(
                email=form.cleaned_data["email"], password=form.cleaned_data["password1"]
            )
        except IntegrityError:
            # The same address submitted twice at once (a double click): the unique email decides.
            form.add_error("email", DUPLICATE_EMAIL)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome! Your workspace is ready. Add a provider key to start."))
            return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's login, except that a signed-in user sent back to the login page itself goes home."""

    def get_redirect_url(self, request: HttpRequest | None = None) -> str:
        url = super().get_redirect_url(request)
        # Django raises "redirection loop" (a 500) for ?next=/accounts/login/ when already signed in.
        return "" if url.split("?")[0] == (request or self.request).path else url


class LogoutView(auth_views.LogoutView):
    """Django's logout, which says on the next page that it worked."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        was_signed_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_signed_in:
            messages.success(request, _("You are logged out."))
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's reset, which also lifts the email's login lockout: its owner has just proved it."""

    def form_valid(self, form: SetPasswordForm[User]) -> HttpResponse:
        response = super().form_valid(form)
        reset_lockouts(username=form.user.email.lower())  # as accounts.throttle records it
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, whose wrong old passwords count towards the login lockout."""

    form_class = ThrottledPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}
