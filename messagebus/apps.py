from __future__ import annotations

from django.apps import AppConfig


class MessagebusConfig(AppConfig):
    name = "messagebus"
    default_auto_field = "django.db.models.BigAutoField"
