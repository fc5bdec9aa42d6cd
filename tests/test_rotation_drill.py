"""Master-key rotation drill with the app running: generations keep working through every phase.

README "Rotating the master key", step by step, with a real worker process that is redeployed (replaced by
one started with the new environment) at each step, as every web and worker process would be:
keys and generations under v1; v2 added decrypt-only; v2 promoted (new keys under v2, old ones still
decrypt); `rewrap_keys` (no v1 row left, a second run changes nothing); the minimum raised to 2; v1
removed. A generation with every key succeeds in every phase, and no decryption fails on the way.
"""

from __future__ import annotations

import io
import time
from collections import Counter

import pytest
from django.core.management import call_command

from generation.models import Generation
from keys.models import KeyUse, ProviderKey
from tests.support.generation import start
from tests.support.keys import MASTER_V1, MASTER_V2, make_key
from tests.support.worker import Worker, celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.drill]

OPENAI_SECOND_KEY = "sk-proj-rotationDrillSecondKey0123456789abcdefghijklmnoWXYZ"
FAL_THIRD_KEY = "5d1c0b2a-9e8f-4a7b-8c6d-5e4f3a2b1c0d:7f6e5d4c3b2a19081726354453627180"


def _deploy(settings, worker: Worker, *, keys: str, primary: int = 0, minimum: int = 0) -> None:
    """Give the web side (this process) and the worker the same master-key settings, as a deploy would."""
    settings.ANIAVATAR_MASTER_KEYS = keys
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = primary
    settings.ANIAVATAR_MASTER_KEY_MIN_VERSION = minimum
    worker.env.update(
        ANIAVATAR_MASTER_KEYS=keys,
        ANIAVATAR_MASTER_KEY_PRIMARY=str(primary),
        ANIAVATAR_MASTER_KEY_MIN_VERSION=str(minimum),
    )
    # Nothing is in flight between phases, so replacing the process is a deploy (and 4 s faster than
    # Celery's warm shutdown).
    worker.kill()
    worker.start()


def _generate_with_each(alice, keys: list[ProviderKey], phase: str, worker: Worker) -> None:
    """Start one generation per key and assert that every one succeeds."""
    generations = [
        start(
            alice, key, "gpt-image-2" if key.provider == "openai" else "fal-ai/flux-2-max", size="1024x1024"
        )
        for key in keys
    ]
    deadline = time.monotonic() + 60
    pending = Generation.objects.filter(pk__in=[g.pk for g in generations]).exclude(
        status__in=Generation.FINAL
    )
    while pending.exists():
        assert time.monotonic() < deadline, f"{phase}: generations still running"
        time.sleep(0.1)
    for generation in generations:
        generation.refresh_from_db()
        assert generation.status == "succeeded", (phase, generation.error_message, worker.log()[-3000:])


def _versions() -> dict[int, int]:
    """Return how many keys are stored under each master-key version."""
    return dict(Counter(ProviderKey.objects.values_list("key_version", flat=True)))


def test_generations_keep_working_through_a_master_key_rotation(alice, double, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_TIMEOUT_SECONDS = 10
    v1, both = f"1:{MASTER_V1}", f"1:{MASTER_V1},2:{MASTER_V2}"
    settings.ANIAVATAR_MASTER_KEYS = v1
    settings.ANIAVATAR_MASTER_KEY_PRIMARY = 0
    settings.ANIAVATAR_MASTER_KEY_MIN_VERSION = 0

    with celery_worker(
        tmp_path,
        ANIAVATAR_MASTER_KEYS=v1,
        ANIAVATAR_MASTER_KEY_PRIMARY="0",
        ANIAVATAR_MASTER_KEY_MIN_VERSION="0",
    ) as worker:
        # Phase 0: keys and generations under v1.
        keys = [make_key(alice, "openai"), make_key(alice, "fal")]
        assert _versions() == {1: 2}
        _generate_with_each(alice, keys, "v1 only", worker)

        # Phase 1: v2 everywhere, decrypt-only; v1 still encrypts.
        _deploy(settings, worker, keys=both, primary=1)
        keys.append(make_key(alice, "openai", OPENAI_SECOND_KEY))
        assert _versions() == {1: 3}
        _generate_with_each(alice, keys, "v2 decrypt-only", worker)

        # Phase 2: v2 promoted; a new key is written under v2, the old ones still decrypt from v1.
        _deploy(settings, worker, keys=both, primary=2)
        keys.append(make_key(alice, "fal", FAL_THIRD_KEY))
        assert _versions() == {1: 3, 2: 1}
        _generate_with_each(alice, keys, "v2 primary", worker)

        # Phase 3: re-encrypt every row below the primary; a second run has nothing to do.
        output, again = io.StringIO(), io.StringIO()
        call_command("rewrap_keys", stdout=output)
        assert "Re-encrypted: 3" in output.getvalue(), output.getvalue()
        call_command("rewrap_keys", stdout=again)
        assert "Re-encrypted: 0" in again.getvalue() and "Keys per version now: v2: 4" in again.getvalue()
        assert _versions() == {2: 4}
        _generate_with_each(alice, keys, "rewrapped", worker)

        # Phase 4: v1 retired (the minimum raised), then removed from the environment.
        _deploy(settings, worker, keys=both, primary=2, minimum=2)
        _generate_with_each(alice, keys, "minimum 2", worker)
        _deploy(settings, worker, keys=f"2:{MASTER_V2}", primary=2, minimum=2)
        _generate_with_each(alice, keys, "v1 removed", worker)

    generations = Generation.objects.count()
    assert generations == 2 + 3 + 4 + 4 + 4 + 4
    assert not KeyUse.objects.filter(outcome=KeyUse.Outcome.UNDECRYPTABLE).exists()
    assert KeyUse.objects.filter(purpose=KeyUse.Purpose.GENERATE).count() == generations
