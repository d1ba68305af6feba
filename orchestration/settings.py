"""Every path and option the platform uses, read from the environment once.

No other module reads environment variables: they receive a ``Settings`` (or take
``get_settings()``). dbt reads the same absolute warehouse path through the environment that
``Settings.dbt_env()`` builds, so Dagster, dbt and the CLI always open the same file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

# Telemetry goes nowhere here (no network), and each attempt only costs a time-out.
TELEMETRY_OFF = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "DAGSTER_DISABLE_TELEMETRY": "1",
}


def _path(env: dict[str, str], name: str, default: Path) -> Path:
    value = env.get(name)
    return (Path(value).expanduser() if value else default).resolve()


def _source_timezones(raw: str | None) -> dict[str, str]:
    """Parse ``crm=America/New_York,telephony=UTC`` into a dict."""
    zones: dict[str, str] = {}
    for part in (raw or "").split(","):
        if part.strip():
            family, _, zone = part.partition("=")
            zones[family.strip()] = zone.strip()
    return zones


JVM_OPTIONS = "spark.driver.extraJavaOptions"


def _spark_extra_conf(raw: str | None) -> tuple[tuple[str, str], ...]:
    """``{"spark.sql.adaptive.enabled": "false", ...}`` as sorted (key, value) pairs."""
    if not raw:
        return ()
    try:
        conf = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"STL_SPARK_EXTRA_CONF is not JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise ValueError("STL_SPARK_EXTRA_CONF must be a JSON object of Spark settings")
    return tuple(sorted((str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in conf.items()))


# The warehouse file's default name (dbt's partial-parse state is tied to it: dbt_project.py).
WAREHOUSE_FILE = "speed_to_lead.duckdb"


@dataclass(frozen=True)
class Settings:
    """Paths and options. Environment variable names are in ``docs/operations.md``."""

    data_dir: Path
    landing_dir: Path
    warehouse_path: Path
    output_dir: Path
    dagster_home: Path
    # Spark's local state for the spark target (warehouse dir, metastore, raw tables as Parquet).
    spark_dir: Path
    # Timezone used for naive timestamps, per source family (crm, telephony, messaging);
    # a ``sources.yaml`` in the landing directory overrides these per family.
    source_timezones: dict[str, str] = field(default_factory=dict)
    default_source_timezone: str = "UTC"
    # Region (ISO 3166 alpha-2) whose numbering plan applies to phone numbers written
    # without a country code.
    default_phone_region: str = "US"
    # SQLAlchemy URL of a CRM / telephony database to ingest from, if any.
    source_database_url: str | None = None
    source_database_schema: str | None = None
    # First day of the daily ingestion partitions, and the timezone that cuts the days.
    partitions_start: dt.date = dt.date(2024, 1, 1)
    schedule_timezone: str = "UTC"
    # Event timestamps more than this far past the load time are quarantined as future-dated.
    future_tolerance_seconds: int = 300
    # How far ahead a planned time (an appointment's start) may lie before it is rejected.
    max_future_days: int = 730
    # DuckDB's memory cap for every warehouse connection (ingestion and dbt); it spills to disk
    # beyond it. DuckDB's own default, 80 % of RAM: a lower cap makes DuckDB plan joins for less
    # memory than they need, which made the 1M job slower and larger (8GB: 176.6 s, peak RSS
    # 4.5 GiB; 80 %: 138.5 s, 3.2 GiB; docs/benchmarks.md). Set a size to bound a container
    # (or a 10M-lead job: 19.3 GiB at 80 %).
    duckdb_memory_limit: str = "80%"
    # How long a warehouse writer waits for the file lock before giving up (orchestration/warehouse.py).
    warehouse_lock_timeout_seconds: int = 3600
    # Data-quality gates: a daily extract whose newest file is older than this (wall clock) is
    # late; alerts go to a JSON-lines log file and, when set, a webhook.
    max_extract_age_hours: float = 48.0
    alert_webhook_url: str | None = None
    # Payload shape of that webhook: slack (text + blocks), teams (Adaptive Card) or json.
    alert_webhook_format: str = "slack"
    # The weekly report by email (docs/delivery.md): sent when smtp_host and recipients are set.
    # smtp_security: starttls (port 587), tls (implicit TLS, port 465) or none (a local relay).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    report_sender: str | None = None
    report_recipients: tuple[str, ...] = ()
    # Report targets, e.g. "sla_compliance=0.9,median_business_seconds_to_first_response=300".
    report_targets: str | None = None
    # Leadership KPI snapshots: "weekly" (Mondays, the previous ISO week) or "daily" (the day before).
    snapshot_frequency: str = "weekly"
    # Statistics (effects, forecast, staffing, outliers): "weekly" (their own job, Mondays before
    # the leadership run; the daily run leaves them out) or "daily" (in every daily run).
    statistics_frequency: str = "weekly"
    # Secret of the keyed hash (HMAC-SHA256) that turns lead and rep ids into pseudonyms in
    # everything published; None: generated once into pseudonym_key_path (see delivery/privacy.py).
    pseudonym_key: str | None = None
    # Raw personal data (names, emails, phones, quarantined raw records) older than this is purged.
    retention_days: int = 365
    # dbt target in dbt_project/profiles.yml: duckdb (the embedded warehouse) or spark
    # (docs/scale_out.md). On spark, raw tables reach Spark as Parquet under spark_dir.
    dbt_target: str = "duckdb"
    spark_driver_memory: str = "4g"
    # Few shuffle partitions: Spark's default of 200 is tuned for clusters, not 2 cores.
    spark_shuffle_partitions: int = 4
    # Further Spark settings, applied last (STL_SPARK_EXTRA_CONF, a JSON object); JVM options are
    # added to the platform's own. E.g. for small local runs: docs/scale_out.md.
    spark_extra_conf: tuple[tuple[str, str], ...] = ()
    # PostgreSQL URL for Dagster's run, event-log and schedule storage (default: SQLite files
    # in dagster_home). docs/deployment.md.
    dagster_pg_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        data_dir = _path(env, "STL_DATA_DIR", PROJECT_ROOT / "data")
        return cls(
            data_dir=data_dir,
            landing_dir=_path(env, "STL_LANDING_DIR", data_dir / "landing"),
            warehouse_path=_path(env, "STL_WAREHOUSE_PATH", data_dir / "warehouse" / WAREHOUSE_FILE),
            output_dir=_path(env, "STL_OUTPUT_DIR", data_dir / "output"),
            dagster_home=_path(env, "DAGSTER_HOME", data_dir / "dagster_home"),
            spark_dir=_path(env, "STL_SPARK_DIR", data_dir / "spark"),
            source_timezones=_source_timezones(env.get("STL_SOURCE_TIMEZONES")),
            default_source_timezone=env.get("STL_DEFAULT_SOURCE_TIMEZONE", "UTC"),
            default_phone_region=env.get("STL_DEFAULT_PHONE_REGION", "US").upper(),
            source_database_url=env.get("STL_SOURCE_DATABASE_URL") or None,
            source_database_schema=env.get("STL_SOURCE_DATABASE_SCHEMA") or None,
            partitions_start=dt.date.fromisoformat(env.get("STL_PARTITIONS_START", "2024-01-01")),
            schedule_timezone=env.get("STL_SCHEDULE_TIMEZONE", "UTC"),
            future_tolerance_seconds=int(env.get("STL_FUTURE_TOLERANCE_SECONDS", "300")),
            max_future_days=int(env.get("STL_MAX_FUTURE_DAYS", "730")),
            duckdb_memory_limit=env.get("STL_DUCKDB_MEMORY_LIMIT", "80%"),
            warehouse_lock_timeout_seconds=int(env.get("STL_WAREHOUSE_LOCK_TIMEOUT_SECONDS", "3600")),
            max_extract_age_hours=float(env.get("STL_MAX_EXTRACT_AGE_HOURS", "48")),
            alert_webhook_url=env.get("STL_ALERT_WEBHOOK_URL") or None,
            alert_webhook_format=env.get("STL_ALERT_WEBHOOK_FORMAT", "slack").lower(),
            smtp_host=env.get("STL_SMTP_HOST") or None,
            smtp_port=int(env.get("STL_SMTP_PORT", "587")),
            smtp_security=env.get("STL_SMTP_SECURITY", "starttls").lower(),
            smtp_username=env.get("STL_SMTP_USERNAME") or None,
            smtp_password=env.get("STL_SMTP_PASSWORD") or None,
            report_sender=env.get("STL_REPORT_SENDER") or None,
            report_recipients=tuple(a.strip() for a in env.get("STL_REPORT_RECIPIENTS", "").split(",") if a.strip()),
            report_targets=env.get("STL_REPORT_TARGETS") or None,
            snapshot_frequency=env.get("STL_SNAPSHOT_FREQUENCY", "weekly").lower(),
            statistics_frequency=env.get("STL_STATISTICS_FREQUENCY", "weekly").lower(),
            pseudonym_key=env.get("STL_PSEUDONYM_KEY") or None,
            retention_days=int(env.get("STL_RETENTION_DAYS", "365")),
            dbt_target=env.get("STL_DBT_TARGET", "duckdb"),
            spark_driver_memory=env.get("STL_SPARK_DRIVER_MEMORY", "4g"),
            spark_shuffle_partitions=int(env.get("STL_SPARK_SHUFFLE_PARTITIONS", "4")),
            spark_extra_conf=_spark_extra_conf(env.get("STL_SPARK_EXTRA_CONF")),
            dagster_pg_url=env.get("STL_DAGSTER_PG_URL") or None,
        )

    @property
    def lock_path(self) -> Path:
        """The file lock every warehouse writer holds (DuckDB allows one writer process)."""
        return self.warehouse_path.with_suffix(self.warehouse_path.suffix + ".lock")

    @property
    def spark_raw_dir(self) -> Path:
        """Spark target: the raw tables as Parquet, one folder per table (scale/spark.py writes them)."""
        return self.spark_dir / "raw"

    def spark_conf(self) -> dict[str, str]:
        """Spark session settings for one machine: every core, few shuffle partitions (the default
        200 means 200 tiny tasks per join on 2 cores), UTC everywhere (the models keep UTC wall
        clocks in plain TIMESTAMPs), warehouse and metastore under spark_dir. Here rather than in
        scale/spark.py because dbt_env() hands them to dbt-spark (STL_SPARK_CONF)."""
        spark_dir = self.spark_dir
        conf = {
            "spark.master": "local[*]",
            "spark.app.name": "speed-to-lead",
            "spark.driver.memory": self.spark_driver_memory,
            "spark.sql.shuffle.partitions": str(self.spark_shuffle_partitions),
            "spark.sql.session.timeZone": "UTC",
            JVM_OPTIONS: f"-Duser.timezone=UTC -Dderby.system.home={spark_dir}",
            "spark.sql.warehouse.dir": str(spark_dir / "warehouse"),
            "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={spark_dir / 'metastore_db'};create=true",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
        }
        for key, value in self.spark_extra_conf:
            conf[key] = f"{conf[key]} {value}" if key == JVM_OPTIONS else value
        return conf

    @property
    def gx_dir(self) -> Path:
        """Great Expectations' own project (validation results store) — generated, not edited."""
        return self.data_dir / "gx"

    @property
    def data_docs_dir(self) -> Path:
        return self.output_dir / "data_docs"

    @property
    def alert_log_path(self) -> Path:
        return self.output_dir / "alerts.log"

    @property
    def published_dir(self) -> Path:
        """What analysts read: the published marts (DuckDB file and Parquet), swapped atomically."""
        return self.output_dir / "published"

    @property
    def pseudonym_key_path(self) -> Path:
        return self.data_dir / "secrets" / "pseudonym.key"

    def ensure_dirs(self) -> None:
        for path in (self.landing_dir, self.warehouse_path.parent, self.output_dir, self.dagster_home):
            path.mkdir(parents=True, exist_ok=True)
        dagster_yaml = self.dagster_home / "dagster.yaml"
        wanted = dagster_instance_yaml(self.dagster_home, postgres=self.dagster_pg_url is not None)
        # Rewrite only a file we generated (storage follows STL_DAGSTER_PG_URL); a hand-written
        # dagster.yaml is the operator's and stays as it is.
        existing = dagster_yaml.read_text() if dagster_yaml.exists() else None
        if existing is None or (_is_generated(existing) and existing != wanted):
            dagster_yaml.write_text(wanted)

    def dbt_env(self) -> dict[str, str]:
        """Environment for a dbt subprocess: the target, the shared warehouse path (and on the
        spark target the session settings and raw Parquet folder), telemetry off."""
        env = {**TELEMETRY_OFF, "STL_DBT_TARGET": self.dbt_target, "STL_WAREHOUSE_PATH": str(self.warehouse_path),
               "STL_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
               # mart_kpi_by_period cuts its periods in this timezone, as the KPI snapshots do.
               "STL_SCHEDULE_TIMEZONE": self.schedule_timezone}
        if self.dbt_target == "spark":  # what profiles.yml's spark output and register_raw_sources read
            env.update({"STL_SPARK_CONF": json.dumps(self.spark_conf()), "STL_SPARK_RAW_DIR": str(self.spark_raw_dir)})
        return env

    def process_env(self) -> dict[str, str]:
        """What a process running Dagster needs in its environment: dbt's variables (dbt_env) and
        DAGSTER_HOME. Entry points apply it (apply_process_env) or hand it to a child (`stl ui`);
        importing the definitions never does."""
        return {**self.dbt_env(), "DAGSTER_HOME": str(self.dagster_home)}


# Written into DAGSTER_HOME: telemetry off, and one step at a time touching the warehouse across
# runs (every writer is in the ``warehouse`` pool; pools default to 1 slot). With
# STL_DAGSTER_PG_URL set, runs, the event log and schedules live in PostgreSQL; the URL stays in
# the environment (``env:``), so the password never lands in the file. Otherwise the event log is
# Dagster's SQLite one in its default place, with kept connections (orchestration/defs/event_log.py).
_GENERATED_MARKER = "# Generated by orchestration/settings.py"
_DAGSTER_INSTANCE_BASE = """\
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
"""
_DAGSTER_POSTGRES_STORAGE = """\
storage:
  postgres:
    postgres_url:
      env: STL_DAGSTER_PG_URL
"""


_DAGSTER_SQLITE_EVENT_LOG = """\
event_log_storage:
  module: orchestration.defs.event_log
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {base_dir}
"""


def dagster_instance_yaml(dagster_home: Path, postgres: bool) -> str:
    storage = (_DAGSTER_POSTGRES_STORAGE if postgres
               else _DAGSTER_SQLITE_EVENT_LOG.format(base_dir=json.dumps(str(dagster_home / "history" / "runs"))))
    return "\n".join([f"{_GENERATED_MARKER} and rewritten by it; delete this line to keep your edits.",
                      _DAGSTER_INSTANCE_BASE + storage])


def _is_generated(text: str) -> bool:
    # Files from before the marker held exactly the base settings.
    return text.startswith(_GENERATED_MARKER) or text == _DAGSTER_INSTANCE_BASE


def apply_process_env(settings: Settings) -> None:
    """Export the settings dbt and Dagster read themselves, and switch telemetry off. For entry
    points only (the `stl` commands): a DAGSTER_HOME already set is kept."""
    env = settings.process_env()
    os.environ.setdefault("DAGSTER_HOME", env.pop("DAGSTER_HOME"))
    os.environ.update(env)


def is_set(name: str) -> bool:
    """Whether the environment sets ``name`` (non-empty): the Dagster resources take such a
    variable as an EnvVar, resolved when a run starts, and otherwise this module's default."""
    return bool(os.environ.get(name))


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def use_settings(settings: Settings) -> None:
    """Make ``settings`` the process-wide settings (tests, the benchmark's child process)."""
    global _settings
    _settings = settings
    os.environ["STL_WAREHOUSE_PATH"] = str(settings.warehouse_path)
