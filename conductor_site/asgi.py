from __future__ import annotations

import os

import django
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")
django.setup(set_prefix=False)  # as get_asgi_application() does

from conductor_site.body_length import BodyLength  # noqa: E402 (needs the settings)
from conductor_site.request_threads import ReusedThreadsASGIHandler  # noqa: E402
from messagebus.append_route import BusAppends  # noqa: E402
from runs.routing import websocket_urlpatterns  # noqa: E402

django_application = ReusedThreadsASGIHandler()

# Chunked bodies get their length first; then the lean bus append, then Django. A WebSocket
# gets the session's user (the dashboard's pages sign in with it, `live.consumers`).
application = ProtocolTypeRouter(
    {
        "http": BodyLength(BusAppends(django_application)),
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
