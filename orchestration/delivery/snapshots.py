"""Leadership KPI snapshots: one row per KPI, period and segment, appended to
``snapshots.kpi_history`` and never rewritten.

The figures come from ``marts.mart_kpi_by_period`` (dbt: every KPI formula is written once, in
``dbt_project/macros/kpis.sql``); this module only picks the period's rows, so no KPI is computed
in Python.

A period is a local calendar week (Monday to Sunday) or day in the schedule's timezone. The
schedule's tick names the day the run is for and the period is the last full one before it; a
run without a date (``stl demo``, a manual materialisation) takes the last full period before
the end of the data, so a rerun on the same data reports the same period. Re-running a period
appends a new ``snapshot_version``; readers take the latest version per period.

Backfill: so that the report's trend has earlier periods from the first run on, a snapshot also
stages every earlier *whole* period (``period_is_whole``) of its frequency and timezone that has
no row in the history yet, from the same mart. Backfilled rows are marked: ``snapshot_version``
0 (a snapshot taken at the time is version 1 or later, so it wins as the latest) and
``dagster_run_id`` ``backfill:<run id>``. Existing history rows are never touched.

Rows are first written to ``snapshots.kpi_pending`` by the snapshot asset; the publish step
appends them to the history in the same breath as it swaps the published files (see
publish.py), so a run that dies half-way leaves the history as it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

FREQUENCIES = ("weekly", "daily")
KPI_MART = "marts.mart_kpi_by_period"
KPI_DEFINITIONS = "marts.mart_kpi_definitions"
# The mart's frequency for the whole data (the run summary's figures).
ALL_TIME = "all_time"

HISTORY_COLUMNS = [
    ("frequency", "VARCHAR"), ("period_start", "DATE"), ("period_end", "DATE"), ("period_timezone", "VARCHAR"),
    ("segment_type", "VARCHAR"), ("segment_value", "VARCHAR"), ("kpi", "VARCHAR"), ("value", "DOUBLE"),
    ("segment_lead_incidents", "BIGINT"), ("metric_definition_version", "VARCHAR"),
    ("snapshot_version", "INTEGER"), ("dagster_run_id", "VARCHAR"), ("snapshotted_at", "TIMESTAMP"),
]
# The columns the history shares with the mart, in the history's order.
MART_COLUMNS = [name for name, _ in HISTORY_COLUMNS[:10]]
HISTORY_TABLE = "snapshots.kpi_history"
PENDING_TABLE = "snapshots.kpi_pending"
BACKFILL_RUN_PREFIX = "backfill:"
BACKFILL_VERSION = 0


@dataclass(frozen=True)
class Period:
    frequency: str
    start: dt.date  # first local day
    end: dt.date  # first local day after the period
    timezone: str

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period's edges as naive UTC timestamps (the warehouse stores UTC)."""
        zone = ZoneInfo(self.timezone)
        return tuple(dt.datetime.combine(d, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
                     for d in (self.start, self.end))

    def previous(self) -> "Period":
        return period_ending(self.frequency, self.start, self.timezone)

    @property
    def label(self) -> str:
        if self.frequency == "daily":
            return self.start.isoformat()
        iso = self.start.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"


def period_ending(frequency: str, on_or_before: dt.date, timezone: str) -> Period:
    """The last full period that ends on or before the start of the day ``on_or_before``."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"snapshot frequency must be one of {FREQUENCIES}, not {frequency!r}")
    if frequency == "daily":
        return Period(frequency, on_or_before - dt.timedelta(days=1), on_or_before, timezone)
    end = on_or_before - dt.timedelta(days=on_or_before.weekday())  # that week's Monday
    return Period(frequency, end - dt.timedelta(days=7), end, timezone)


def data_end_date(con, timezone: str) -> dt.date | None:
    """The local day after the last data (fct_lead_response.as_of_at): its last full period ends there."""
    end = con.execute("SELECT max(as_of_at) FROM marts.fct_lead_response").fetchone()[0]
    if end is None:
        return None
    return end.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(timezone)).date() + dt.timedelta(days=1)


def ensure_tables(con) -> None:
    columns = ", ".join(f"{name} {type_}" for name, type_ in HISTORY_COLUMNS)
    con.execute("CREATE SCHEMA IF NOT EXISTS snapshots")
    con.execute(f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} ({columns})")


def data_coverage(con) -> tuple[dt.datetime | None, dt.datetime | None]:
    """First response clock start and the data's end (as_of_at), naive UTC; (None, None) when empty."""
    return con.execute("SELECT min(clock_started_at), max(as_of_at) FROM marts.fct_lead_response").fetchone()


def period_is_whole(period: Period, data_start: dt.datetime | None, data_end: dt.datetime | None) -> bool:
    """Whether the data covers the period from start to end. The first lead rarely arrives at the
    very first second, so data that starts within the period's first seventh (a day of a week)
    counts as covering it."""
    if data_start is None or data_end is None:
        return False
    start, end = period.utc_bounds()
    slack = (end - start) / 7
    return data_start <= start + slack and data_end >= end - slack


def kpi_names(con) -> list[str]:
    """Every KPI, in report order (the dbt KPI catalogue)."""
    return [r[0] for r in con.execute(f"SELECT kpi FROM {KPI_DEFINITIONS} ORDER BY kpi_order").fetchall()]


def _check_timezone(con, timezone: str) -> None:
    """The mart's calendar must be the snapshot's: dbt cuts it in var reporting_timezone, which
    defaults to STL_SCHEDULE_TIMEZONE (Settings.dbt_env)."""
    built = [r[0] for r in con.execute(f"SELECT DISTINCT period_timezone FROM {KPI_MART}").fetchall()]
    if built and built != [timezone]:
        raise ValueError(f"{KPI_MART} cuts periods in {', '.join(built)}, the snapshot in {timezone}: rebuild the "
                         "marts with the same STL_SCHEDULE_TIMEZONE (dbt var reporting_timezone)")


def stage_snapshot(con, period: Period, run_id: str, now: dt.datetime) -> int:
    """Copy the period's KPI rows from the KPI mart into the pending table (replacing any earlier
    run's), plus the backfill of earlier whole periods the history lacks. Returns the number of
    the period's rows; ``snapshot_version`` is the next one, settled at commit."""
    ensure_tables(con)
    _check_timezone(con, period.timezone)
    columns = ", ".join(MART_COLUMNS)
    con.execute(f"""
        CREATE OR REPLACE TABLE {PENDING_TABLE} AS
        SELECT {columns}, NULL::INTEGER AS snapshot_version, ?::VARCHAR AS dagster_run_id, ?::TIMESTAMP AS snapshotted_at
        FROM {KPI_MART} WHERE frequency = ? AND period_start = ? AND period_timezone = ?""",
                [run_id, now, period.frequency, period.start, period.timezone])
    if con.execute(f"SELECT count(*) FROM {PENDING_TABLE}").fetchone()[0] == 0:
        # A period without leads still gets its rows: zero incidents is a number leadership needs.
        con.execute(f"""INSERT INTO {PENDING_TABLE} SELECT ?, ?, ?, ?, 'all', 'all', kpi,
                        CASE WHEN kpi = 'lead_incidents' THEN 0 END, 0, metric_definition_version, NULL, ?, ?
                        FROM {KPI_DEFINITIONS}""",
                    [period.frequency, period.start, period.end, period.timezone, run_id, now])
    rows = con.execute(f"SELECT count(*) FROM {PENDING_TABLE}").fetchone()[0]
    _stage_backfill(con, period, run_id, now)
    return rows


def _stage_backfill(con, period: Period, run_id: str, now: dt.datetime) -> None:
    missing = [r[0] for r in con.execute(f"""
        SELECT DISTINCT period_start FROM {KPI_MART} m
        WHERE frequency = ? AND period_timezone = ? AND period_start < ?
          AND NOT EXISTS (SELECT 1 FROM {HISTORY_TABLE} h WHERE h.frequency = m.frequency
                          AND h.period_start = m.period_start AND h.period_timezone = m.period_timezone)
        ORDER BY 1""", [period.frequency, period.timezone, period.start]).fetchall()]
    data_start, data_end = data_coverage(con)
    length = period.end - period.start
    whole = [start for start in missing
             if period_is_whole(Period(period.frequency, start, start + length, period.timezone), data_start, data_end)]
    if whole:
        con.execute(f"""
            INSERT INTO {PENDING_TABLE}
            SELECT {", ".join(MART_COLUMNS)}, NULL, ?, ?
            FROM {KPI_MART} WHERE frequency = ? AND period_timezone = ? AND period_start IN (SELECT unnest(?::DATE[]))""",
                    [BACKFILL_RUN_PREFIX + run_id, now, period.frequency, period.timezone, whole])


def backfilled_periods(con, run_id: str) -> int:
    """How many earlier periods this run's snapshot backfills (0 once the history has them)."""
    return con.execute(f"SELECT count(DISTINCT period_start) FROM {PENDING_TABLE} WHERE dagster_run_id = ?",
                       [BACKFILL_RUN_PREFIX + run_id]).fetchone()[0]


def _pending_as_next_version_sql(run_id: str) -> str:
    return f"""
        SELECT p.* REPLACE (
            CASE WHEN p.dagster_run_id = '{BACKFILL_RUN_PREFIX}{run_id}' THEN {BACKFILL_VERSION}
                 ELSE (SELECT coalesce(max(h.snapshot_version), 0) + 1 FROM {HISTORY_TABLE} h
                       WHERE h.frequency = p.frequency AND h.period_start = p.period_start) END AS snapshot_version)
        FROM {PENDING_TABLE} p WHERE p.dagster_run_id IN ('{run_id}', '{BACKFILL_RUN_PREFIX}{run_id}')"""


def history_with_pending_sql(run_id: str) -> str:
    """The history as it will be once this run's pending rows (its snapshot and any backfill) are
    committed (for the report and exports, which are built before the commit)."""
    return f"SELECT * FROM {HISTORY_TABLE} UNION ALL {_pending_as_next_version_sql(run_id)}"


def latest_versions_sql(history_sql: str = HISTORY_TABLE) -> str:
    """The rows of the latest ``snapshot_version`` of every period in ``history_sql``."""
    return f"""SELECT * FROM ({history_sql}) h
               QUALIFY snapshot_version = max(snapshot_version) OVER (PARTITION BY frequency, period_start, period_timezone)"""


def commit_pending(con, run_id: str) -> int | None:
    """Append this run's pending rows to the history as the next version of their period (backfilled
    periods as version 0), inside the caller's transaction. Returns the version of this run's own
    period (None: nothing was pending)."""
    con.execute(f"INSERT INTO {HISTORY_TABLE} {_pending_as_next_version_sql(run_id)}")
    con.execute(f"DELETE FROM {PENDING_TABLE} WHERE dagster_run_id IN (?, ?)", [run_id, BACKFILL_RUN_PREFIX + run_id])
    return con.execute(f"SELECT max(snapshot_version) FROM {HISTORY_TABLE} WHERE dagster_run_id = ?",
                       [run_id]).fetchone()[0]
