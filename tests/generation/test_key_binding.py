"""A generation runs only on a key of its own workspace and provider (issue 15, finding 2).

An outside test pointed a generation of workspace B at workspace A's key (with database write access)
and the worker ran it on A's key. The ciphertext binding does not catch that: the key's own row is
intact, only the generation points at the wrong one. Two layers refuse it now:

- the worker, before it decrypts anything (both databases);
- on PostgreSQL, a two-column foreign key: the row cannot be written at all.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import User
from generation import pipeline
from generation.models import CostRecord, Generation
from keys.models import KeyUse, ProviderKey
from tests.support.accounts import workspace_of
from tests.support.factories import make_generation
from tests.support.generation import start
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db

ON_POSTGRESQL = connection.vendor == "postgresql"
CONSTRAINT = "generation_key_in_own_workspace"


@pytest.fixture(autouse=True)
def _fast(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 2
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)


@contextlib.contextmanager
def database_check_dropped() -> Iterator[None]:
    """Let the test write the forbidden row, as an attacker with database access could before the fix.

    On PostgreSQL the constraint is dropped inside the test's transaction, which is rolled back after
    the test, constraint included. (Django's own foreign keys are deferred: their pending checks run
    first, as PostgreSQL alters no table with checks pending.)
    """
    if ON_POSTGRESQL:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE generation_generation DROP CONSTRAINT IF EXISTS {CONSTRAINT}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    yield


def _uses(key: ProviderKey) -> list[tuple[str, str]]:
    return list(KeyUse.objects.filter(key=key).values_list("purpose", "outcome"))


def _mismatched(charlie: User, key: ProviderKey, double) -> Generation:
    """Queue a generation in charlie's workspace on his own key, then point it at `key` by hand."""
    own = make_key(charlie, "openai", "sk-proj-CharliesOwnKey0123456789abcdefghijklmnopqrsWx9z")
    generation = start(charlie, own, "gpt-image-2")
    with database_check_dropped():
        Generation.objects.filter(pk=generation.pk).update(provider_key=key)
    return generation


def _assert_refused(generation: Generation, key: ProviderKey, double, caplog, uses_before) -> None:
    generates = double.count("openai.generate") + double.count("fal.submit")
    with caplog.at_level(logging.ERROR, logger="generation.pipeline"):
        pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == "failed"
    assert "does not belong to this workspace" in generation.error_message
    assert generation.reserved_nanousd == 0
    assert generation.attempts == 0
    # The provider was never called, nothing was charged, and the key was not decrypted.
    assert double.count("openai.generate") + double.count("fal.submit") == generates
    assert not CostRecord.objects.filter(generation=generation).exists()
    assert _uses(key) == uses_before
    key.refresh_from_db()
    assert key.use_count == 0 and key.last_used_at is None
    # The operator is told which generation and which key, and nothing secret.
    (record,) = [r for r in caplog.records if r.name == "generation.pipeline" and r.levelno >= logging.ERROR]
    message = record.getMessage()
    assert str(generation.code) in message and str(key.code) in message


def test_the_worker_refuses_a_key_of_another_workspace(alice, charlie, double, caplog):
    alices = make_key(alice, "openai")
    uses_before = _uses(alices)
    generation = _mismatched(charlie, alices, double)
    _assert_refused(generation, alices, double, caplog, uses_before)


def test_the_worker_refuses_a_key_of_another_provider(alice, double, caplog):
    fal_key = make_key(alice, "fal")
    uses_before = _uses(fal_key)
    openai_key = make_key(alice, "openai")
    generation = start(alice, openai_key, "gpt-image-2")
    with database_check_dropped():
        Generation.objects.filter(pk=generation.pk).update(provider_key=fal_key)
    _assert_refused(generation, fal_key, double, caplog, uses_before)


def test_a_generation_on_its_own_key_still_runs(alice, double):
    """The positive control: the check is about the mismatch, not about running at all."""
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2")
    pipeline.run_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == "succeeded", generation.error_message


# The database's own refusal (PostgreSQL)

needs_postgresql = pytest.mark.skipif(
    not ON_POSTGRESQL,
    reason="the two-column foreign key is created on PostgreSQL only; SQLite relies on the worker's check",
)


def _refused(write) -> None:
    with pytest.raises(IntegrityError, match=CONSTRAINT), transaction.atomic():
        write()


@needs_postgresql
def test_postgresql_refuses_a_generation_pointed_at_another_workspaces_key(alice, charlie, double):
    alices = make_key(alice, "openai")
    theirs = start(charlie, make_key(charlie, "fal"), "fal-ai/flux-2-max")
    _refused(lambda: Generation.objects.filter(pk=theirs.pk).update(provider="openai", provider_key=alices))
    _refused(lambda: make_generation(workspace_of(charlie), charlie, provider_key=alices))
    assert Generation.objects.get(pk=theirs.pk).provider_key.workspace == workspace_of(charlie)


@needs_postgresql
def test_postgresql_refuses_a_generation_pointed_at_a_key_of_another_provider(alice, double):
    fal_key = make_key(alice, "fal")
    generation = start(alice, make_key(alice, "openai"), "gpt-image-2")
    _refused(lambda: Generation.objects.filter(pk=generation.pk).update(provider_key=fal_key))
    _refused(lambda: Generation.objects.filter(pk=generation.pk).update(provider="fal"))


@needs_postgresql
def test_postgresql_refuses_moving_a_key_that_generations_use(alice, charlie, double):
    key = make_key(alice, "openai")
    start(alice, key, "gpt-image-2")
    _refused(lambda: ProviderKey.objects.filter(pk=key.pk).update(workspace=workspace_of(charlie)))
    _refused(lambda: ProviderKey.objects.filter(pk=key.pk).update(provider="fal"))


@needs_postgresql
def test_postgresql_still_allows_what_the_app_does(alice, double):
    """No key, a deleted key (SET NULL) and a deleted workspace (CASCADE) all stay possible."""
    key = make_key(alice, "openai")
    generation = start(alice, key, "gpt-image-2")
    make_generation(workspace_of(alice), alice)  # no key at all
    key.delete()
    generation.refresh_from_db()
    assert generation.provider_key is None
    other = make_key(alice, "fal")
    start(alice, other, "fal-ai/flux-2-max")
    workspace_of(alice).delete()
    assert not Generation.objects.exists() and not ProviderKey.objects.exists()
