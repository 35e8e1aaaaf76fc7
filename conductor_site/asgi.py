from __future__ import annotations

import os

import django
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")
django.setup(set_prefix=False)  # as get_asgi_application() does

from conductor_site.body_length import BodyLength  # noqa: E402 (needs the settings)
from conductor_site.live import routing as live_routing  # noqa: E402
from conductor_site.request_threads import ReusedThreadsASGIHandler  # noqa: E402
from messagebus import routing as messagebus_routing  # noqa: E402
from messagebus.append_route import BusAppends  # noqa: E402
from runs import routing as runs_routing  # noqa: E402
from tasks import routing as tasks_routing  # noqa: E402

django_application = ReusedThreadsASGIHandler()

# Each app's WebSocket routes (docs/api/streams.md), behind the session and user of the
# dashboard's cookie: a signed-in user may connect (`conductor_site.live.consumers`).
websocket_urlpatterns = [
    *runs_routing.websocket_urlpatterns,
    *tasks_routing.websocket_urlpatterns,
    *messagebus_routing.websocket_urlpatterns,
    *live_routing.websocket_urlpatterns,
]

# Chunked bodies get their length first; then the lean bus append, then Django.
application = ProtocolTypeRouter(
    {
        "http": BodyLength(BusAppends(django_application)),
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
