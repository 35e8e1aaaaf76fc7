"""The message bus streams (docs/api/streams.md): `messages`, `GET /api/v1/messages/stream`
and the project and task ones; `messagebus.stream_urls` routes to their views. The run
streams are in `runs.streams`."""
