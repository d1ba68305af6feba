"""The Dagster code location: definitions (the one entry point workspace.yaml names), assets
by domain (assets/), the dbt assets (transform.py), resources, jobs, partitions, schedules,
sensors and the run's progress logger. Everything else in orchestration/ is plain Python that
these call: ingestion, quality, delivery, statistics, settings and the warehouse."""
