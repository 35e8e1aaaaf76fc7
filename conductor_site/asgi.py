from __future__ import annotations

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")

django_application = get_asgi_application()

from conductor_site.body_length import BodyLength  # noqa: E402 (needs the settings)
from messagebus.append_route import BusAppends  # noqa: E402

# Chunked bodies get their length first; then the lean bus append, then Django.
application = ProtocolTypeRouter({"http": BodyLength(BusAppends(django_application))})
