"""Monthly budgets and spend limits that hold under concurrency (docs/architecture.md §7, D34).

Three scopes, each optional: the workspace's cap (`Budget`), a member's limit and a key's limit
(`SpendLimit`). `status` is the one spend function: it takes the scope (the workspace, or one member or
key in it) and returns its cap, this month's spend and in-flight reservations. `check_and_lock` checks
every scope that applies to a request under the same workspace row lock, so a burst at any scope cannot
pass its limit; the first limit that the quote would pass refuses it, with its numbers.

A generation reserves its quote when it is created. The check "month spend + in-flight reservations +
this quote ≤ cap" and the reservation happen in one transaction, serialized per workspace by a row
lock on the workspace (PostgreSQL: SELECT … FOR UPDATE; SQLite: writers are serialized by BEGIN
IMMEDIATE), so no number of concurrent submissions can push spend + reservations past the cap.
Completion replaces the reservation with the actual cost (or, when the provider billed an amount we
cannot know, with the quote, an upper bound); failure releases it (pipeline.finish). On PostgreSQL a
cost record's insert waits for that same lock (its foreign key takes a share lock on the workspace
row), so a generation finishing during a check cannot be counted neither as reserved nor as spent.
The month's spend is `usage.totals.month_spend`, from the cost records: the figure the dashboard shows.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import translation
from django.utils.translation import gettext as _

from accounts import preferences
from accounts.models import Membership, User, Workspace
from generation.dates import month_start, utc_now
from generation.models import Budget, Generation, LimitAlert, SpendLimit
from generation.money import format_usd
from generation.usage.totals import MonthSpend, month_spend
from keys.models import ProviderKey

logger = logging.getLogger(__name__)

WARN_FRACTION = 0.8


class BudgetExceeded(Exception):
    """The request's quote does not fit in what is left of a month's cap or limit (the message says which)."""


@dataclass(frozen=True)
class Scope:
    """Whose spend a cap counts: the whole workspace (neither set), one member's, or one key's."""

    member: User | None = None
    key: ProviderKey | None = None

    def __post_init__(self) -> None:
        assert self.member is None or self.key is None, "a scope is the workspace, a member or a key"

    @property
    def alert_key(self) -> str:
        """Return the name a LimitAlert row gives this limit (one email per limit per month)."""
        if self.member is not None:
            return f"member:{self.member.pk}"
        if self.key is not None:
            return f"key:{self.key.pk}"
        return "workspace"

    @property
    def title(self) -> str:
        """Return the limit's name in a sentence ("this month's budget", "the monthly limit for …")."""
        if self.member is not None:
            return _("the monthly limit for %(member)s") % {"member": self.member.email}
        if self.key is not None:
            return _("the monthly limit on the key %(label)s (%(hint)s)") % {
                "label": self.key.label,
                "hint": self.key.hint,
            }
        return _("this month's budget")


@dataclass(frozen=True)
class BudgetStatus:
    cap_nanousd: int | None
    month: MonthSpend  # this month's charges: the dashboard shows them from here too
    reserved_nanousd: int
    scope: Scope = field(default_factory=Scope)

    @property
    def spent_nanousd(self) -> int:
        """Return this month's spend as the cap counts it: unknown amounts at their quotes."""
        return self.month.bounded_nanousd

    @property
    def committed_nanousd(self) -> int:
        return self.spent_nanousd + self.reserved_nanousd

    @property
    def remaining_nanousd(self) -> int | None:
        if self.cap_nanousd is None:
            return None
        return max(0, self.cap_nanousd - self.committed_nanousd)

    @property
    def percent_used(self) -> int | None:
        if not self.cap_nanousd:
            return None
        return min(999, self.committed_nanousd * 100 // self.cap_nanousd)

    @property
    def warn(self) -> bool:
        return self.cap_nanousd is not None and self.committed_nanousd >= self.cap_nanousd * WARN_FRACTION

    @property
    def exceeded(self) -> bool:
        return self.cap_nanousd is not None and self.committed_nanousd >= self.cap_nanousd

    def fits(self, quote_nanousd: int) -> bool:
        return self.cap_nanousd is None or self.committed_nanousd + quote_nanousd <= self.cap_nanousd


def _cap(workspace: Workspace, scope: Scope) -> int | None:
    if scope.member is not None:
        limits = SpendLimit.objects.filter(workspace=workspace, member=scope.member)
    elif scope.key is not None:
        limits = SpendLimit.objects.filter(workspace=workspace, provider_key=scope.key)
    else:
        return (
            Budget.objects.filter(workspace=workspace).values_list("monthly_cap_nanousd", flat=True).first()
        )
    return limits.values_list("monthly_cap_nanousd", flat=True).first()


def _status(workspace: Workspace, scope: Scope, cap: int | None, now: dt.datetime | None) -> BudgetStatus:
    member_id = scope.member.pk if scope.member is not None else None
    key_id = scope.key.pk if scope.key is not None else None
    month = month_spend(workspace, member_id=member_id, key_id=key_id, now=now)
    in_flight = Generation.objects.for_workspace(workspace).filter(
        status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING]
    )
    if member_id is not None:
        in_flight = in_flight.filter(created_by_id=member_id)
    if key_id is not None:
        in_flight = in_flight.filter(provider_key_id=key_id)
    reserved = in_flight.aggregate(total=Sum("reserved_nanousd"))["total"]
    return BudgetStatus(cap_nanousd=cap, month=month, reserved_nanousd=reserved or 0, scope=scope)


def status(
    workspace: Workspace,
    *,
    member: User | None = None,
    key: ProviderKey | None = None,
    now: dt.datetime | None = None,
) -> BudgetStatus:
    """Return a scope's cap, this month's spend and its in-flight reservations: three or four small queries.

    The scope is the workspace, or one member (`member`) or one key (`key`) in it. The spend is
    `usage.totals.month_spend` narrowed to the scope, the one source of "spent this month" (its
    docstring says why the records, and why a charge of unknown amount counts at its quote).
    """
    scope = Scope(member=member, key=key)
    return _status(workspace, scope, _cap(workspace, scope), now)


def refusal_message(current: BudgetStatus, quote_nanousd: int) -> str:
    """Return the refusal with its numbers: which limit, by how much, so the user knows exactly why."""
    cap = current.cap_nanousd or 0
    over = current.committed_nanousd + quote_nanousd - cap
    remedy = (
        _("Raise the budget on the Workspace page, or wait for next month.")
        if current.scope == Scope()
        else _("The workspace owner can raise it on the Workspace page; or wait for next month.")
    )
    return _(
        "This request (%(quote)s) would pass %(limit)s of %(cap)s by %(over)s: %(spent)s spent and "
        "%(reserved)s reserved by requests in progress, %(left)s left. %(remedy)s"
    ) % {
        "quote": format_usd(quote_nanousd),
        "limit": current.scope.title,
        "cap": format_usd(cap),
        "over": format_usd(over),
        "spent": format_usd(current.spent_nanousd),
        "reserved": format_usd(current.reserved_nanousd),
        "left": format_usd(current.remaining_nanousd),
        "remedy": remedy,
    }


def _limited_scopes(
    workspace: Workspace, member: User | None, key: ProviderKey | None
) -> list[tuple[Scope, int]]:
    """Return the scopes of a request that have a cap, with it: workspace first, then member, then key."""
    scopes = []
    cap = _cap(workspace, Scope())
    if cap is not None:
        scopes.append((Scope(), cap))
    if member is None and key is None:
        return scopes
    either = Q(pk__in=[])
    if member is not None:
        either |= Q(member=member)
    if key is not None:
        either |= Q(provider_key=key)
    limits = SpendLimit.objects.filter(either, workspace=workspace)
    for limit in limits.order_by("provider_key_id"):  # a member's limit (NULL key) first
        if limit.member_id is not None:
            scopes.append((Scope(member=member), limit.monthly_cap_nanousd))
        else:
            scopes.append((Scope(key=key), limit.monthly_cap_nanousd))
    return scopes


def check_and_lock(
    workspace: Workspace,
    quote_nanousd: int,
    *,
    member: User | None = None,
    key: ProviderKey | None = None,
) -> list[BudgetStatus]:
    """Lock the workspace row and raise BudgetExceeded if the quote does not fit every cap that applies.

    Call inside atomic. The caps are the workspace's, `member`'s and `key`'s; every scope is checked
    under the one workspace row lock, so a burst cannot pass any of them. Return the statuses checked
    (before this quote), for `alert_managers`.
    """
    assert transaction.get_connection().in_atomic_block, "check_and_lock must run inside a transaction"
    Workspace.objects.select_for_update().filter(pk=workspace.pk).values_list("pk").first()
    checked = []
    for scope, cap in _limited_scopes(workspace, member, key):
        current = _status(workspace, scope, cap, None)
        if not current.fits(quote_nanousd):
            raise BudgetExceeded(refusal_message(current, quote_nanousd))
        checked.append(current)
    return checked


def alert_managers(
    workspace: Workspace,
    checked: Sequence[BudgetStatus],
    quote_nanousd: int,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Email the owner and the admins once per limit per month when a request takes a limit past 80 %.

    Called inside the caller's atomic block.

    Counted like the cap: spend + reservations, this request's included. The alert row is written in
    the caller's transaction (under the workspace lock); the email goes after the commit.
    """
    month = month_start(now).date()
    for current in checked:
        cap = current.cap_nanousd or 0
        if current.committed_nanousd + quote_nanousd < cap * WARN_FRACTION:
            continue
        _alert, created = LimitAlert.objects.get_or_create(
            workspace=workspace,
            scope=current.scope.alert_key,
            month=month,
            defaults={"sent_at": now or utc_now()},
        )
        if created:
            managers = Membership.objects.filter(
                workspace=workspace, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN]
            ).select_related("user")
            # One email per manager, in their language (their saved one, else the page's that set it off).
            for manager in managers:
                language = preferences.user_language(manager.user)
                with translation.override(language):
                    subject, body = _alert_mail(workspace, current, quote_nanousd)
                mail = functools.partial(_send, subject, body, manager.user.email, language)
                transaction.on_commit(mail, robust=True)


def _alert_mail(workspace: Workspace, current: BudgetStatus, quote_nanousd: int) -> tuple[str, str]:
    committed = current.committed_nanousd + quote_nanousd
    cap = current.cap_nanousd or 0
    percent = committed * 100 // cap if cap else 100
    limit = current.scope.title
    subject = _("AniAvatar: %(limit)s is %(percent)d%% used") % {"limit": limit, "percent": percent}
    body = _(
        "In the workspace %(workspace)s, %(limit)s of %(cap)s is %(percent)d%% used this month (UTC): "
        "%(committed)s spent or reserved by requests in progress. Requests that would pass it are refused. "
        "You can change it on the Workspace page.\n\nThis is the only email about this limit this month."
    ) % {
        "workspace": workspace.name,
        "limit": limit,
        "cap": format_usd(cap),
        "percent": percent,
        "committed": format_usd(committed),
    }
    return str(subject), str(body)


def _send(subject: str, body: str, to: str, language: str) -> None:
    EmailMessage(
        subject, body, settings.DEFAULT_FROM_EMAIL, [to], headers={"Content-Language": language}
    ).send()


def set_cap(*, workspace: Workspace, user: User, cap_nanousd: int | None) -> Budget:
    """Set or clear the workspace's monthly cap."""
    budget, _created = Budget.objects.update_or_create(
        workspace=workspace, defaults={"monthly_cap_nanousd": cap_nanousd, "updated_by": user}
    )
    return budget


def set_limit(
    *,
    workspace: Workspace,
    user: User,
    cap_nanousd: int | None,
    member: User | None = None,
    key: ProviderKey | None = None,
) -> None:
    """Set or clear (None) a member's or a key's monthly limit; the caller checks they are the workspace's."""
    assert (member is None) != (key is None), "a limit is on a member or on a key"
    lookup = {"member": member} if member is not None else {"provider_key": key}
    if cap_nanousd is None:
        SpendLimit.objects.filter(workspace=workspace, **lookup).delete()
        return
    SpendLimit.objects.update_or_create(
        workspace=workspace, **lookup, defaults={"monthly_cap_nanousd": cap_nanousd, "updated_by": user}
    )
