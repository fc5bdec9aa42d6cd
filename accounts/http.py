"""Request types and helpers that views share."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from allauth.account.decorators import verified_email_required
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from accounts.teams import has_two_factor

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from accounts.models import Membership, User, Workspace


class AppRequest(HttpRequest):
    """Any HttpRequest after the middleware, before a view has checked who is asking.

    `membership` and `workspace` are lazy objects (WorkspaceMiddleware): test them for truth, never
    with `is None`; they are empty when signed out or without a workspace.
    """

    htmx: HtmxDetails
    membership: Membership | None
    workspace: Workspace | None


class WorkspaceRequest(AppRequest):
    """The request a view behind `workspace_required` gets: a signed-in member and their workspace."""

    user: User
    workspace: Workspace
    membership: Membership


# A page with a form: shown by GET (and HEAD), submitted by POST; anything else is a 405.
require_form_methods = require_http_methods(["GET", "HEAD", "POST"])


def workspace_required[R: HttpResponseBase](view: Callable[..., R]) -> Callable[..., R | HttpResponse]:
    """Require a signed-in user with a workspace (every tenant page).

    The decorated view returns what `view` returns (a page, a file, a stream) or a redirect to log in.
    When the workspace requires two-factor sign-in (its owner's choice, D33) and the user has neither an
    authenticator app nor a passkey, it redirects to /accounts/2fa/ instead (allauth's pages, not behind
    this decorator, so there is no loop).
    """

    @login_required
    @wraps(view)
    def member(request: AppRequest, *args: Any, **kwargs: Any) -> R | HttpResponse:
        if not request.membership:
            raise PermissionDenied("You are not a member of any workspace.")
        workspace = request.membership.workspace
        if workspace.require_two_factor and not has_two_factor(request.user):
            messages.warning(
                request,
                _(
                    "%(name)s requires two-factor sign-in: set up an authenticator app or a passkey to continue."
                )
                % {"name": workspace.name},
            )
            if getattr(request, "htmx", None):
                return HttpResponseClientRedirect(reverse("mfa_index"))
            return redirect("mfa_index")
        return view(request, *args, **kwargs)

    @wraps(view)
    def wrapper(request: AppRequest, *args: Any, **kwargs: Any) -> R | HttpResponse:
        htmx = getattr(request, "htmx", None)
        if htmx and not request.user.is_authenticated:
            # A fragment (status polling) after the session ended: the login page would be swapped into
            # the page, and would return to the bare fragment. Send the whole page there, and back to it.
            page = htmx.current_url_abs_path or "/"
            return HttpResponseClientRedirect(
                f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': page})}"
            )
        return member(request, *args, **kwargs)

    return wrapper


def _role_required[R: HttpResponseBase](
    view: Callable[..., R], allowed: Callable[[Membership], bool], refusal: str
) -> Callable[..., R | HttpResponse]:
    # allauth's: without a verified address, it mails a code and shows the page to type it on.
    verified: Callable[..., R | HttpResponse] = verified_email_required(view)

    @workspace_required
    @wraps(view)
    def wrapper(request: WorkspaceRequest, *args: Any, **kwargs: Any) -> R | HttpResponse:
        if not allowed(request.membership):
            raise PermissionDenied(refusal)
        return verified(request, *args, **kwargs)

    return wrapper


def admin_required[R: HttpResponseBase](view: Callable[..., R]) -> Callable[..., R | HttpResponse]:
    """Require the current user to be an owner or admin of the current workspace, with a verified address.

    Keys, the budget, members and invitations (docs/decisions.md D33). The role is checked on the
    server for every request: a member who posts an admin form gets a 403 and nothing changes. Sign-up
    verifies the address before the account can be used; this also holds for accounts made otherwise
    (`createsuperuser`, the admin), which must confirm theirs before touching keys.
    """
    return _role_required(view, lambda m: m.is_admin, "Only the workspace's owner or admins can do this.")


def owner_only[R: HttpResponseBase](view: Callable[..., R]) -> Callable[..., R | HttpResponse]:
    """Require the current user to own the current workspace (transfer ownership, delete the workspace)."""
    return _role_required(view, lambda m: m.is_owner, "Only the workspace owner can do this.")
