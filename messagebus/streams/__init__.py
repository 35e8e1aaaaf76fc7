"""The SSE streams (docs/api/streams.md), one module each; every one is a `Feed` for
`messagebus.sse`, and `messagebus.stream_urls` routes to their views.

- `run_log`: a run's log, `GET /api/v1/runs/<r>/stream`;
- `task_runs`: a task's runs fanned in, `GET /api/projects/<p>/tasks/<t>/runs/stream`;
- `all_runs`: every run's changes, `GET /api/v1/runs/stream/all`;
- `run_files`: a run's file, `GET /api/projects/<p>/tasks/<t>/runs/<r>/stream?name=F`;
- `messages`: the message buses, `GET /api/v1/messages/stream` and the project and task ones;
- `run_reads`: what the run streams read from the database: runs, their state, their log.
"""
