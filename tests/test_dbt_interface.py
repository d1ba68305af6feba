"""dbt's public-interface conventions on the marts (docs/marts.md): enforced contracts and
versions without renaming anything, exposures that match the code that reads the marts, source
freshness, and a plain `dbt build` inside dbt_project/ that finds the platform's warehouse."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import jinja2
import pytest
import yaml

from orchestration.dbt_project import DBT_EXECUTABLE
from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, Settings
from tests.helpers import STL, child_env

# Python whose `marts.` reads must be declared as exposures (models/exposures.yml). bench.py and
# cli.py only name the fact in benchmark checks and help text.
CONSUMER_DIRS = ("orchestration/delivery", "orchestration/defs/assets", "orchestration/stats")
READ = re.compile(r"\b(marts|intermediate|staging)\.([a-z_0-9]+)\b")


# ---------------------------------------------------------------- the parsed manifest (fast)


@pytest.fixture(scope="module")
def manifest(dbt_manifest) -> dict:
    return json.loads(Path(dbt_manifest).read_text())


def _models(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def _marts(manifest: dict) -> list[dict]:
    return [n for n in _models(manifest) if n["path"].startswith("marts/")]


def test_every_mart_has_an_enforced_typed_contract_and_a_version_that_keeps_its_names(manifest):
    from orchestration.defs.transform import dbt_models

    marts = _marts(manifest)
    assert {"fct_lead_response", "fct_sla_alerts"} <= {n["name"] for n in marts}
    asset_keys = {k.to_user_string() for k in dbt_models.keys}
    problems = {}
    for node in marts:
        name, issues = node["name"], []
        if not node["config"]["contract"]["enforced"]:
            issues.append("contract not enforced")
        if not node["columns"]:
            issues.append("no columns declared")
        issues += [f"{c} has no data_type" for c, col in node["columns"].items() if not col.get("data_type")]
        if node.get("version") is None or node.get("latest_version") != node["version"]:
            issues.append(f"version {node.get('version')!r}, latest {node.get('latest_version')!r}")
        # What Python, exports, tests and analysts query, and the Dagster asset key, stay as they were.
        if node["alias"] != name or node["schema"] != "marts":
            issues.append(f"relation {node['schema']}.{node['alias']}")
        if f"marts/{name}" not in asset_keys:
            issues.append("Dagster asset key is not marts/" + name)
        if issues:
            problems[name] = issues
    assert not problems, problems


def test_an_unpinned_ref_resolves_to_the_latest_version(manifest):
    """ref('fct_lead_response') in fct_sla_alerts is the v1 node (the one relation there is)."""
    alerts = next(n for n in _marts(manifest) if n["name"] == "fct_sla_alerts")
    assert {"name": "fct_lead_response", "package": None, "version": None} in alerts["refs"]
    assert "model.speed_to_lead.fct_lead_response.v1" in alerts["depends_on"]["nodes"]


def test_export_column_types_match_the_contracts(manifest):
    """docs/exports.md promises these types; the contracts are what the marts really produce."""
    from orchestration.delivery.exports import EXPORTS

    contracts = {f"marts.{n['alias']}": {c: col["data_type"] for c, col in n["columns"].items()} for n in _marts(manifest)}
    checked = 0
    for export in EXPORTS:
        if export.relation in contracts:
            for column, type_, _ in export.columns:
                assert contracts[export.relation].get(column, "").upper() == type_.upper(), (export.name, column)
                checked += 1
    assert checked >= 30  # four mart exports with their columns


def _relations(manifest: dict) -> dict[tuple[str, str], str]:
    """(schema, relation name) → unique_id of every model."""
    return {(n["schema"], n["alias"]): uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}


CONSTANT = re.compile(r"^([A-Z][A-Z_0-9]*)\s*=\s*[\"']" + READ.pattern + r"[\"']", re.MULTILINE)


def _consumer_files() -> list[Path]:
    return sorted(p for folder in CONSUMER_DIRS for p in (PROJECT_ROOT / folder).rglob("*.py"))


def _reads(files: list[Path], relations: dict) -> set[str]:
    """Models the code names as schema.table (comments and docstrings count: they rarely name a
    table the code does not read), directly or through a module constant such as
    ``KPI_MART = "marts.mart_kpi_by_period"`` that another module imports."""
    constants = {name: (schema, table) for path in _consumer_files()
                 for name, schema, table in CONSTANT.findall(path.read_text())}
    found = set()
    for path in files:
        text = path.read_text()
        named = READ.findall(text) + [rel for name, rel in constants.items() if re.search(rf"\b{name}\b", text)]
        found |= {relations[rel] for rel in named if rel in relations}
    return found


def test_exposures_depend_on_exactly_the_marts_their_code_reads(manifest):
    relations = _relations(manifest)
    mart_ids = {uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "model" and n["schema"] == "marts"}
    exposures = manifest["exposures"]
    assert {"leadership_report", "leadership_email", "delivery_exports", "kpi_snapshots", "statistics"} <= {
        e["name"] for e in exposures.values()}
    for exposure in exposures.values():
        name, deps = exposure["name"], set(exposure["depends_on"]["nodes"])
        assert exposure["owner"].get("name") or exposure["owner"].get("email"), name
        assert exposure["description"].strip() and exposure["maturity"] in ("low", "medium", "high"), name
        assert deps and all(d in manifest["nodes"] for d in deps), name
        code = [PROJECT_ROOT / p for p in exposure["meta"]["code"]]
        assert all(p.is_file() for p in code), name
        if exposure["meta"].get("publishes_schema") == "marts":  # copies the whole schema
            assert deps == mart_ids, name
            continue
        reads = _reads(code, relations)
        assert reads & mart_ids == deps & mart_ids, (name, sorted(reads ^ deps))
        assert deps - mart_ids <= reads, (name, "declared but not read", sorted(deps - mart_ids - reads))


def test_every_python_read_of_a_mart_is_declared_by_an_exposure(manifest):
    relations = _relations(manifest)
    declared = {p for e in manifest["exposures"].values() for p in e["meta"].get("code", [])}
    undeclared = {}
    for path in _consumer_files():
        marts_read = {manifest["nodes"][u]["name"] for u in _reads([path], relations)
                      if manifest["nodes"][u]["schema"] == "marts"}
        rel = path.relative_to(PROJECT_ROOT).as_posix()
        if marts_read and rel not in declared:
            undeclared[rel] = sorted(marts_read)
    assert not undeclared, f"reads marts without an exposure in dbt_project/models/exposures.yml: {undeclared}"


def _render_env_vars(template: str, env: dict[str, str]) -> str:
    """Render a profiles.yml value whose only Jinja is env_var(name, default)."""
    def env_var(name, default=None):
        if name in env:
            return env[name]
        assert default is not None, f"{name} has no default"
        return default

    return jinja2.Environment().from_string(template).render(env_var=env_var)


@pytest.mark.parametrize("env", [{}, {"STL_DATA_DIR": "/srv/stl"}, {"STL_WAREHOUSE_PATH": "/srv/w.duckdb"}],
                         ids=["defaults", "data_dir", "warehouse_path"])
def test_the_profile_default_warehouse_is_the_platforms_from_inside_dbt_project(env):
    """dbt resolves a relative path against its working directory: dbt_project/."""
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["speed_to_lead"]
    rendered = _render_env_vars(profile["outputs"]["duckdb"]["path"], env)
    assert (DBT_PROJECT_DIR / rendered).resolve() == Settings.from_env(env).warehouse_path
    # Every other variable the profile reads for the duckdb target has a default.
    assert _render_env_vars(profile["target"], env) == "duckdb"
    _render_env_vars(profile["outputs"]["duckdb"]["settings"]["memory_limit"], env)


# ---------------------------------------------------------------- against a built warehouse (slow)


@pytest.fixture
def built(shared_run) -> Path:
    """The warehouse of the session's shared run (read only: tests copy it)."""
    return shared_run.settings.warehouse_path


def _copy_project(dest: Path) -> Path:
    shutil.copytree(DBT_PROJECT_DIR, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return dest


def _plain_env() -> dict[str, str]:
    """No STL_* and no dbt location overrides: what a newcomer's shell has."""
    return {k: v for k, v in child_env().items() if k not in ("DBT_PROFILES_DIR", "DBT_PROJECT_DIR", "DBT_TARGET_PATH")}


def _mart_tables(warehouse: Path) -> dict[str, dict[str, str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                           "WHERE table_schema = 'marts'").fetchall()
    finally:
        con.close()
    tables: dict[str, dict[str, str]] = {}
    for table, column, type_ in rows:
        tables.setdefault(table, {})[column] = type_
    return tables


@pytest.mark.slow
def test_plain_dbt_build_inside_dbt_project_uses_the_default_warehouse_and_keeps_relation_names(built, tmp_path, manifest):
    """A newcomer after `stl demo`: `cd dbt_project && dbt build`, no STL_* variables. The copy
    mirrors the repository layout (dbt_project/ beside data/warehouse/)."""
    repo = tmp_path / "repo"
    project = _copy_project(repo / "dbt_project")
    warehouse = repo / "data" / "warehouse" / "speed_to_lead.duckdb"
    warehouse.parent.mkdir(parents=True)
    shutil.copy(built, warehouse)
    before = _mart_tables(warehouse)
    con = duckdb.connect(str(warehouse))
    con.execute("DROP SCHEMA marts CASCADE")
    con.close()

    done = subprocess.run([DBT_EXECUTABLE, "build"], cwd=project, env=_plain_env(), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-4000:]
    # Rebuilt in place, contracts enforced on real data, under the same names and types.
    after = _mart_tables(warehouse)
    assert after == before
    assert set(after) == {n["alias"] for n in _marts(manifest)}


@pytest.mark.slow
def test_a_mart_whose_column_type_breaks_its_contract_fails_naming_the_column(built, tmp_path):
    project = _copy_project(tmp_path / "dbt_project")
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built, warehouse)
    model = project / "models" / "marts" / "response" / "fct_sla_alerts.sql"
    # threshold_seconds (contract: double) becomes text; the newline keeps a trailing comment closed.
    model.write_text("select * replace (cast(threshold_seconds as varchar) as threshold_seconds) from (\n"
                     + model.read_text() + "\n) as changed\n")

    done = subprocess.run([DBT_EXECUTABLE, "run", "--select", "fct_sla_alerts", "--profiles-dir", str(project)],
                          cwd=project, env=_plain_env() | {"STL_WAREHOUSE_PATH": str(warehouse)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert "enforced contract that failed" in done.stdout
    assert re.search(r"\|\s*threshold_seconds\s*\|\s*VARCHAR\s*\|\s*DOUBLE\s*\|\s*data type mismatch", done.stdout), done.stdout[-3000:]
    assert _mart_tables(warehouse)["fct_sla_alerts"]["threshold_seconds"] == "DOUBLE"  # the table was left alone


def _freshness(warehouse: Path, target: Path) -> tuple[int, dict[str, str]]:
    """`stl dbt source freshness` on ``warehouse``; exit code and status per raw table."""
    done = subprocess.run([STL, "dbt", "source", "freshness", "--target-path", str(target), "--log-path", str(target)],
                          env=child_env(STL_WAREHOUSE_PATH=str(warehouse)), capture_output=True, text=True, timeout=600)
    results = json.loads((target / "sources.json").read_text())["results"]
    return done.returncode, {r["unique_id"].rsplit(".", 1)[1]: r["status"] for r in results}


@pytest.mark.slow
def test_source_freshness_passes_after_a_load_and_flags_stale_extracts(built, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built, warehouse)

    target = tmp_path / "target"  # one for both: the second reuses the first's parse
    code, status = _freshness(warehouse, target)
    assert code == 0
    daily = {"leads", "lead_status_history", "appointments", "opportunities", "calls", "sms", "emails"}
    reference = {"reps", "teams", "schedules", "holidays"}
    # Optional and derived tables have no expectation; everything else was loaded minutes ago.
    assert status == dict.fromkeys(daily | reference, "pass")

    con = duckdb.connect(str(warehouse))
    for table, age in (("leads", "3 days"), ("calls", "30 hours"), ("reps", "40 days"), ("teams", "20 days")):
        con.execute(f"UPDATE raw.{table} SET _loaded_at = _loaded_at - INTERVAL {age}")
    con.close()
    code, status = _freshness(warehouse, target)
    assert code != 0  # an error makes the command fail, for a scheduler to notice
    assert {t: status[t] for t in ("leads", "calls", "reps", "teams", "sms")} == {
        "leads": "error", "calls": "warn", "reps": "warn", "teams": "pass", "sms": "pass"}


# ---------------------------------------------------------------- one parse for every data directory


def test_the_parse_does_not_depend_on_where_the_warehouse_is(monkeypatch, tmp_path):
    """The launcher runs dbt beside the warehouse file, named by its file name alone: dbt's
    partial-parse check hashes the profile's connection settings, and an absolute path made every
    data directory pay a full parse. Only what dbt sees counts; another file name is another
    database name in the manifest, so it does need a parse."""
    from orchestration import dbt_project as dp

    if dp.DBT_EXECUTABLE_DYING_WITH_PARENT == dp.DBT_EXECUTABLE:
        pytest.skip("no launcher on this platform: dbt sees the absolute path")

    def fingerprint(warehouse: Path) -> str:
        monkeypatch.setenv("STL_WAREHOUSE_PATH", str(warehouse))
        monkeypatch.setenv("STL_DATA_DIR", str(warehouse.parent.parent))
        return dp._parse_fingerprint()

    monkeypatch.delenv("STL_DBT_TARGET", raising=False)
    first = fingerprint(tmp_path / "a" / "warehouse" / "speed_to_lead.duckdb")
    assert fingerprint(tmp_path / "b" / "warehouse" / "speed_to_lead.duckdb") == first
    assert fingerprint(tmp_path / "b" / "warehouse" / "other.duckdb") != first
    monkeypatch.setenv("STL_DBT_TARGET", "spark")  # no launcher rewrite there: the path is what dbt sees
    assert fingerprint(tmp_path / "b" / "warehouse" / "speed_to_lead.duckdb") != \
        fingerprint(tmp_path / "a" / "warehouse" / "speed_to_lead.duckdb")


def test_a_plain_dbt_command_leaves_the_platforms_parse_state_alone(dbt_manifest):
    """`stl dbt ...` or `dbt build` in dbt_project/ write target/partial_parse.msgpack with their
    own profile; the platform's builds start from the state its own parse left, under its own
    name, so they never re-parse for that reason."""
    from types import SimpleNamespace

    from orchestration.dbt_project import PARSE_STATE_PATH, PARTIAL_PARSE_FILE, TARGET_DIR
    from orchestration.defs.transform import _target_with_parse_state

    assert PARSE_STATE_PATH.exists() and PARSE_STATE_PATH.name != PARTIAL_PARSE_FILE
    dbts_own = TARGET_DIR / PARTIAL_PARSE_FILE
    saved = dbts_own.read_bytes() if dbts_own.exists() else None
    context = SimpleNamespace(op_execution_context=SimpleNamespace(op=SimpleNamespace(name="parse_state_test")),
                              run=SimpleNamespace(run_id="00000000-test"))
    target = TARGET_DIR / "parse_state_test-unused"
    try:
        dbts_own.write_bytes(b"a plain dbt command's state")
        target = _target_with_parse_state(context)
        assert (target / PARTIAL_PARSE_FILE).read_bytes() == PARSE_STATE_PATH.read_bytes()
    finally:
        shutil.rmtree(target, ignore_errors=True)
        if saved is None:
            dbts_own.unlink(missing_ok=True)
        else:
            dbts_own.write_bytes(saved)
