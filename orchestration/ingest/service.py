"""Ingestion as the Dagster assets and the CLI call it: settings + window → loaded entity."""

from __future__ import annotations

import datetime as dt

import duckdb

from orchestration.ingest import contract as c
from orchestration.ingest.batches import EntityLoadResult
from orchestration.ingest.files import in_window, scan
from orchestration.ingest.loader import load_entity
from orchestration.ingest.mapping import SourcesConfig, load_sources
from orchestration.ingest.raw_schema import ensure_raw_schema, prepare_connection
from orchestration.settings import Settings


def ingest_entity(con: duckdb.DuckDBPyConnection, settings: Settings, entity_name: str,
                  window: tuple[dt.date, dt.date] | None = None,
                  load_time: dt.datetime | None = None) -> EntityLoadResult:
    """Load the entity's new and changed extracts from the landing directory (and the SQL
    source, when one is configured). ``window`` = (first, last) extract date; None = all."""
    entity = c.ENTITY_BY_NAME[entity_name]
    prepare_connection(con)
    ensure_raw_schema(con)
    config = sources_config(settings)
    zone = config.timezone_for(entity)
    start, end = window or (None, None)
    files = [f for f in scan(settings.landing_dir, config) if f.entity == entity_name and in_window(f, start, end)]
    sql_batches = []
    if settings.source_database_url:
        from orchestration.ingest.sql_source import read_entity

        sql_batches = read_entity(settings.source_database_url, entity, window, settings.source_database_schema,
                                  timezone=zone)
    return load_entity(con, entity, files, zone, settings.default_phone_region,
                       load_time=load_time, tolerance_s=settings.future_tolerance_seconds,
                       sql_batches=sql_batches, config=config, max_future_days=settings.max_future_days)


def sources_config(settings: Settings) -> SourcesConfig:
    """The landing directory's sources.yaml (mappings, presets, timezones), validated."""
    return load_sources(settings.landing_dir, settings.source_timezones, settings.default_source_timezone)
