"""`manage.py check_prices`: the providers' published prices (as reconciliations read them) against the catalog."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.reconciliation import service
from keys import services as vault
from tests.conftest import workspace_of

pytestmark = pytest.mark.django_db

FAL_ADMIN = "admin-9d8c7b6a-0000-4000-8000-00000000000a:0f1e2d3c4b5a69788796a5b4c3d2e1f0"
PERIOD = (dt.date(2026, 12, 1), dt.date(2026, 12, 8))


def _reconcile(alice) -> None:
    workspace = workspace_of(alice)
    run = service.start_reconciliation(workspace, "fal", start=PERIOD[0], end=PERIOD[1])
    service.run_reconciliation(run.pk)


def test_it_reports_no_drift_when_the_prices_match(alice, double):
    vault.add_usage_key(
        workspace=workspace_of(alice), user=alice, provider="fal", label="u", secret=FAL_ADMIN
    )
    _reconcile(alice)
    out = io.StringIO()
    call_command("check_prices", stdout=out)
    assert "No price drift" in out.getvalue()


def test_it_prints_each_difference_and_exits_non_zero_on_drift(alice, double):
    vault.add_usage_key(
        workspace=workspace_of(alice), user=alice, provider="fal", label="u", secret=FAL_ADMIN
    )
    double.set_fal_price("fal-ai/flux-2-pro", first_megapixel=35_000_000, extra_megapixel=15_000_000)
    _reconcile(alice)
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("check_prices", stdout=out)
    assert raised.value.returncode == 1
    text = out.getvalue()
    assert "fal fal-ai/flux-2-pro: the provider charges $0.035 per megapixels, the catalog says $0.03" in text
    assert "flux-2-max" not in text
