"""Request types and helpers that views share."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

if TYPE_CHECKING:
    from accounts.models import Membership, User, Workspace


class WorkspaceRequest(HttpRequest):
    """An HttpRequest after WorkspaceMiddleware: a signed-in user and their current workspace."""

    user: User
    workspace: Workspace
    membership: Membership


View = Callable[..., HttpResponse]

# A page with a form: shown by GET (and HEAD), submitted by POST; anything else is a 405.
require_form_methods = require_http_methods(["GET", "HEAD", "POST"])


def workspace_required(view: View) -> View:
    """Require a signed-in user with a workspace (every tenant page)."""

    @login_required
    @wraps(view)
    def wrapper(request: WorkspaceRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership:
            raise PermissionDenied("You are not a member of any workspace.")
        return view(request, *args, **kwargs)

    return wrapper


def owner_required(view: View) -> View:
    """Require the current user to own the current workspace (keys, budget)."""

    @workspace_required
    @wraps(view)
    def wrapper(request: WorkspaceRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership.is_owner:
            raise PermissionDenied("Only the workspace owner can do this.")
        return view(request, *args, **kwargs)

    return wrapper
