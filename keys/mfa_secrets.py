"""Two-factor secrets (TOTP keys, the recovery codes' seed) sealed by the key vault (settings MFA_ADAPTER).

django-allauth stores them as they are unless its MFA adapter encrypts them; ours seals them with
AES-256-GCM under the vault's master keys and a purpose of their own in the associated data, so a
database dump holds no usable second factor, and a sealed secret never opens as a provider key (or the
other way round). allauth's adapter hands over the text alone, so the binding cannot name the user:
someone who can write rows can move a sealed secret between accounts, but such a person can also delete
the authenticator outright.
"""

from __future__ import annotations

import uuid

from allauth.mfa.adapter import DefaultMFAAdapter

from keys import crypto

_BINDING = crypto.Binding(
    workspace=uuid.UUID(int=0), key=uuid.UUID(int=0), provider="", purpose=crypto.PURPOSE_MFA_SECRET
)


class VaultMFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text, _BINDING)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text, _BINDING)
