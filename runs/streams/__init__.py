"""The run streams (docs/api/streams.md), one module each; every one is a `Feed` for
`conductor_site.live`, and `runs.stream_urls` routes to their views.

- `run_log`: a run's log, `GET /api/v1/runs/<r>/stream`;
- `task_runs`: a task's runs fanned in, `GET /api/projects/<p>/tasks/<t>/runs/stream`;
- `all_runs`: every run's changes, `GET /api/v1/runs/stream/all`;
- `run_files`: a run's file, `GET /api/projects/<p>/tasks/<t>/runs/<r>/stream?name=F`;
- `run_reads`: what the run streams read from the database: runs, their state, their log.
"""
