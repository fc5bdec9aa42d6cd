from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Avatar generation"

    def ready(self) -> None:
        from celery.signals import worker_shutdown

        import providers

        def close_provider_clients(**kwargs: object) -> None:
            providers.close_all()

        worker_shutdown.connect(close_provider_clients, weak=False)
