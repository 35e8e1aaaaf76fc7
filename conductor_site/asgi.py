from __future__ import annotations

import os

import django
from channels.routing import ProtocolTypeRouter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor_site.settings")
django.setup(set_prefix=False)  # as get_asgi_application() does

from conductor_site.body_length import BodyLength  # noqa: E402 (needs the settings)
from conductor_site.request_threads import ReusedThreadsASGIHandler  # noqa: E402
from messagebus.append_route import BusAppends  # noqa: E402

django_application = ReusedThreadsASGIHandler()

# Chunked bodies get their length first; then the lean bus append, then Django.
application = ProtocolTypeRouter({"http": BodyLength(BusAppends(django_application))})
