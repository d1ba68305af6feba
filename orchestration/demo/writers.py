"""Files written outside the day loop: dimensions, campaign costs, the experiment assignments,
``sources.yaml``, and the removal of an earlier run's files."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import catalog
from . import people
from .org import WEEKDAY_ABBREV
from .roster import NOT_TERMINATED
from .sink import EVENT_ENTITIES, EXT, FORMAT, cents_to_decimal
from .textfmt import csv_escape_py

MANIFEST_NAME = "_demo_manifest.json"
SOURCES_YAML = """\
# Timezone of naive timestamps, per source family
crm: {timezone: America/New_York}
telephony: {timezone: UTC}
messaging: {timezone: UTC}
"""
DIMENSION_FILES = {
    "teams": "teams/teams.csv",
    "reps": "reps/reps.csv",
    "schedules": "schedules/schedules.csv",
    "holidays": "holidays/holidays.csv",
    "campaign_costs": "campaign_costs/campaign_costs.parquet",
}
# Written only with experiment=True; not a DIMENSION_FILES entry, so that the manifest (and every
# file) of a run without it stays exactly as before.
EXPERIMENT_FILE = "experiment_assignments/experiment_assignments.csv"


def owned_files(landing_dir: Path) -> list[Path]:
    """Files a previous run of the generator wrote (by exact name pattern), nothing else."""
    found: list[Path] = []
    for entity in EVENT_ENTITIES:
        folder = landing_dir / entity
        if folder.is_dir():
            pattern = re.compile(rf"^{re.escape(entity)}_\d{{4}}-\d{{2}}-\d{{2}}\.{EXT[FORMAT[entity]]}$")
            found += [f for f in folder.iterdir() if f.is_file() and pattern.match(f.name)]
    for relative in (*DIMENSION_FILES.values(), EXPERIMENT_FILE, MANIFEST_NAME, "sources.yaml"):
        if (landing_dir / relative).is_file():
            found.append(landing_dir / relative)
    return sorted(found)


def clean_landing(landing_dir: Path) -> int:
    files = owned_files(landing_dir)
    for f in files:
        f.unlink()
    return len(files)


def write_sources_yaml(landing_dir: Path) -> None:
    (landing_dir / "sources.yaml").write_text(SOURCES_YAML, encoding="utf-8", newline="\n")


def write_csv(path: Path, header: list[str], rows: list[list]) -> int:
    """A small CSV (header + rows, None as an empty field); returns the number of rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(csv_escape_py(None if v is None else str(v)) for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return len(rows)


def _iso_or_none(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def write_dimensions(world, landing_dir: Path) -> dict[str, int]:
    """teams, reps, schedules and holidays; returns the rows written per file."""
    roster = world.roster
    rows = {}
    rows["teams"] = write_csv(landing_dir / DIMENSION_FILES["teams"], ["team_id", "team_name", "timezone", "region"],
                              [[t.team_id, t.name, t.timezone, t.region] for t in catalog.TEAMS])
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 5]))
    phones, _ = people.format_phones(roster.nsn, roster.country, world.phone_space_by_country(), rng,
                                     np.ones(len(roster.nsn), bool))
    phones = phones.to_pylist()
    rep_rows = []
    for i, rep_id in enumerate(roster.ids):
        hired = world.start_date + dt.timedelta(days=int(roster.hired_day[i]))
        term = int(roster.term_day[i])
        term_on = world.start_date + dt.timedelta(days=term) if term < NOT_TERMINATED else None
        rep_rows.append([rep_id, catalog.TEAMS[roster.team[i]].team_id,
                         f"{roster.first_names[i]} {roster.last_names[i]}", roster.email[i].as_py(), phones[i],
                         hired.isoformat(), _iso_or_none(term_on), "false" if term_on else "true",
                         int(roster.capacity[i])])
    rows["reps"] = write_csv(landing_dir / DIMENSION_FILES["reps"],
                             ["rep_id", "team_id", "full_name", "email", "phone", "hired_on", "terminated_on",
                              "is_active", "max_concurrent_leads"], rep_rows)
    schedule_rows = []
    for shift in roster.shifts:
        weekday = WEEKDAY_ABBREV[shift.weekday - 1] if shift.weekday_style == "abbrev" else shift.weekday
        schedule_rows.append([shift.team_id, shift.rep_id or None, weekday, shift.start, shift.end,
                              _iso_or_none(shift.effective_from), _iso_or_none(shift.effective_to),
                              shift.timezone or None])
    rows["schedules"] = write_csv(landing_dir / DIMENSION_FILES["schedules"],
                                  ["team_id", "rep_id", "weekday", "start_local", "end_local", "effective_from",
                                   "effective_to", "timezone"], schedule_rows)
    holiday_rows = [[h.start.isoformat(), h.end.isoformat() if h.end != h.start else None, h.team_id or None, h.name]
                    for h in world.holidays]
    rows["holidays"] = write_csv(landing_dir / DIMENSION_FILES["holidays"],
                                 ["start_date", "end_date", "team_id", "name"], holiday_rows)
    return rows


def write_costs(world, landing_dir: Path) -> int:
    """Daily cost per paid campaign: cost per lead x the campaign's leads that day, with noise."""
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 6]))
    paid = [i for i, c in enumerate(catalog.CAMPAIGNS) if c[3] is not None]
    days = world.days
    campaign, date, cents, source = [], [], [], []
    for i in paid:
        name, s, _, cost_per_lead = catalog.CAMPAIGNS[i]
        leads = world.campaign_leads[:, i].astype(np.float64)
        noise = np.exp(0.15 * rng.standard_normal(days))
        cost = cost_per_lead * np.maximum(leads, 0.3) * noise
        campaign += [name] * days
        date.append(np.arange(days))
        cents.append(np.rint(cost * 100).astype(np.int64))
        source += [catalog.SOURCES[s]] * days
    epoch_day = (world.start_date - dt.date(1970, 1, 1)).days
    table = pa.table({
        "campaign": pa.array(campaign, pa.string()),
        "cost_date": pa.array((np.concatenate(date) + epoch_day).astype(np.int32), pa.date32()),
        "cost": cents_to_decimal(np.concatenate(cents)),
        "currency": pa.array(["USD"] * len(campaign), pa.string()),
        "source": pa.array(source, pa.string()),
    })
    path = landing_dir / DIMENSION_FILES["campaign_costs"]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return table.num_rows


def write_experiment(world, landing_dir: Path) -> int:
    arms = catalog.EXPERIMENT_ARMS
    return write_csv(landing_dir / EXPERIMENT_FILE,
                     ["experiment_id", "unit_type", "unit_id", "arm", "started_on", "ended_on"],
                     [[catalog.EXPERIMENT_ID, "rep", rep_id, arms[int(a)], world.start_date.isoformat(),
                       world.end_date.isoformat()] for rep_id, a in zip(world.roster.ids, world.roster.arm)])
