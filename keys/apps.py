from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = "Key vault"

    def ready(self) -> None:
        # Fail at startup (web, worker, manage.py) on a malformed master key, not at the first decrypt.
        from keys import crypto

        crypto.get_keyring()
