from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Avatar generation"

    def ready(self) -> None:
        from celery.signals import worker_shutdown

        from providers import fal_queue, openai_images

        def close_provider_clients(**kwargs: object) -> None:
            openai_images.close_clients()
            fal_queue.close_clients()

        worker_shutdown.connect(close_provider_clients, weak=False)
