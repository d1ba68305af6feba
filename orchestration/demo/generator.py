"""Demo data generator: a realistic, messy, reproducible landing directory.

``generate(landing_dir, leads=..., seed=...)`` writes the extracts a CRM, a telephony system
and a messaging platform would export for a growing sales organisation, following the data
contract (``orchestration/ingest/contract.py``), plus ``_demo_manifest.json``, which records what
was planted: row counts, the deliberately broken rows per quarantine reason, the anomalies that
ingestion keeps, and the true parameters of the response-time -> conversion effect.

This module is the entry point; the simulation is in ``world.py`` (and the modules it names),
the per-day files in ``sink.py``, the other files in ``writers.py`` and the manifest in
``manifest.py``. Layout, formats and the planted effect are documented in ``docs/demo_data.md``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import catalog
from .manifest import MANIFEST_VERSION, build_manifest, experiment_manifest
from .sink import QUARANTINE_ORDER, Lookups, Sink
from .world import World
from .writers import (DIMENSION_FILES, EXPERIMENT_FILE, MANIFEST_NAME, SOURCES_YAML, clean_landing,
                      write_costs, write_dimensions, write_experiment, write_sources_yaml)

__all__ = ["DIMENSION_FILES", "EXPERIMENT_FILE", "MANIFEST_NAME", "MANIFEST_VERSION", "MAX_LEADS", "SOURCES_YAML",
           "clean_landing", "default_days", "generate"]

MAX_LEADS = 20_000_000


def default_days(leads: int) -> int:
    return int(np.clip(round(leads / 300), 30, 365))


def generate(landing_dir: Path, leads: int = 5000, seed: int = 42, days: int | None = None,
             end_date: dt.date = dt.date(2026, 10, 31), messy_share: float = 0.02,
             progress: bool = False, experiment: bool = False) -> dict:
    """Write the demo extracts; return the manifest (also written to landing_dir/_demo_manifest.json).

    ``experiment`` also writes an experiment_assignments extract (reps randomised to two
    notification arms, the treated arm answering faster) and records it under ``experiment``;
    without it the output is byte-identical to a generator that knows no experiments."""
    landing_dir = Path(landing_dir)
    if not 10 <= leads <= MAX_LEADS:
        raise ValueError(f"leads must be between 10 and {MAX_LEADS}")
    if days is None:
        days = default_days(leads)
    if days < 1:
        raise ValueError("days must be at least 1")
    if not 0.0 <= messy_share <= 0.2:
        raise ValueError("messy_share must be between 0 and 0.2")
    landing_dir.mkdir(parents=True, exist_ok=True)
    clean_landing(landing_dir)
    world = World(int(leads), int(seed), int(days), end_date, float(messy_share), bool(experiment))
    lookups = Lookups(rep_ids=world.roster.ids, team_ids=[t.team_id for t in catalog.TEAMS],
                      campaigns=[c[0] for c in catalog.CAMPAIGNS])
    sink = Sink(landing_dir, world.t0, world.days, world.start_date, world.seed, world.messy, world.crm_tz, lookups)
    write_sources_yaml(landing_dir)
    dims = write_dimensions(world, landing_dir)
    for day in tqdm(range(world.days), desc="demo data", unit="day", disable=not progress):
        world.simulate_day(day, sink)
        sink.flush_through(day - 1)
    sink.flush_through(world.days - 1)
    cost_rows = write_costs(world, landing_dir)
    manifest = build_manifest(world, sink, dims, cost_rows)
    if experiment:
        manifest["rows"]["experiment_assignments"] = write_experiment(world, landing_dir)
        manifest["planted_quarantine"]["experiment_assignments"] = {r: 0 for r in QUARANTINE_ORDER}
        manifest["layout"]["experiment_assignments"] = {"path": EXPERIMENT_FILE, "format": "csv"}
        manifest["experiment"] = experiment_manifest(world)
    (landing_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                             encoding="utf-8", newline="\n")
    return manifest
