from __future__ import annotations

from django.apps import AppConfig


class MessagebusConfig(AppConfig):
    name = "messagebus"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from messagebus.services import bus_lock_for_delete

        for model in ("projects.Project", "tasks.Task"):
            pre_delete.connect(bus_lock_for_delete, sender=model, dispatch_uid=f"bus-{model}")
