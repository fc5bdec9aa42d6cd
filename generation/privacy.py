"""Privacy at the provider: delete what it stored of a generation's requests once we have our copy.

fal keeps a request's inputs and outputs (the prompt, the image) in its request history; the app stops
needing them once the images are stored and the charge recorded (a task resuming after a crash needs
them until then, which is why the submit does not ask fal to keep nothing). The follow-up task
`tasks.delete_provider_payloads` calls `delete_payloads` with the generation's id only; it decrypts the
generation's own key through the vault (recorded as a KeyUse, purpose "payloads").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables

import providers
from generation.models import Generation
from keys import services as vault

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deleted:
    deleted: int = 0
    unknown: int = 0  # the provider did not know the request (never ran, or already deleted)


def has_payloads(generation: Generation) -> bool:
    """Whether a final generation left requests whose payloads the provider keeps (and can delete)."""
    adapter = providers.get(generation.provider)
    return (
        generation.is_final
        and providers.Capability.DELETE_PAYLOADS in adapter.capabilities
        and bool(request_ids(generation))
        and generation.provider_key_id is not None
    )


def request_ids(generation: Generation) -> list[str]:
    return sorted(
        {str(entry["request_id"]) for entry in generation.provider_requests or [] if entry.get("request_id")}
    )


@sensitive_variables()
def delete_payloads(generation_id: int) -> Deleted:
    """Delete the payloads of a final generation's requests at its provider; raise ProviderError to retry.

    Never touches the generation row: a failure here is logged (and retried by the task), nothing more.
    """
    generation = Generation.objects.select_related("provider_key__workspace").filter(pk=generation_id).first()
    if generation is None or not has_payloads(generation) or generation.provider_key is None:
        return Deleted()
    adapter = providers.get(generation.provider)
    secret = vault.decrypt_for_provider_call(
        generation.provider_key, generation_code=generation.code, purpose=vault.Purpose.PAYLOADS
    )
    deleted = unknown = 0
    for request_id in request_ids(generation):
        if adapter.delete_payloads(secret, request_id):
            deleted += 1
        else:
            unknown += 1
    del secret
    logger.info(
        "generation %s: deleted the payloads of %d request(s) at %s", generation.code, deleted, adapter.label
    )
    return Deleted(deleted, unknown)
