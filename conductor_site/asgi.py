from __future__ import annotations

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")

django_application = get_asgi_application()

from conductor_site.body_length import BodyLength  # noqa: E402 (needs the settings)
from runs.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {"http": BodyLength(django_application), "websocket": URLRouter(websocket_urlpatterns)}
)
