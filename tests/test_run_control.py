"""Run control that recovers: one run at a time with a clear message, nothing left behind by a
run killed with SIGKILL (run lock, Dagster pool slots, the dbt child), and `stl ui` that stops
its children on SIGTERM."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import child_env
from tests.helpers import copy_run
from dagster._core.storage.dagster_run import DagsterRun

from orchestration import pipeline
from orchestration.cli import default_stop_signals
from orchestration.pipeline import ProcessIdentity, RunInProgress, RunLock, recover_dead_runs
from orchestration.warehouse import WAREHOUSE_POOL

REPO = Path(__file__).resolve().parent.parent


def _hold_lock(settings, command: str) -> subprocess.Popen:
    """A process that takes the run lock, says so, and sleeps until killed."""
    child = subprocess.Popen([sys.executable, "-c", (
        "import time; from orchestration.settings import Settings; from orchestration.pipeline import RunLock; "
        f"s = Settings.from_env({{'STL_DATA_DIR': {str(settings.data_dir)!r}}}); "
        f"RunLock(s).acquire({command!r}); print('locked', flush=True); time.sleep(600)")],
        stdout=subprocess.PIPE, text=True, preexec_fn=default_stop_signals)  # terminate() must stop it
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_second_run_is_refused_naming_the_holder_and_a_waiting_one_says_what_it_waits_for(settings):
    holder = _hold_lock(settings, "stl run --partition 2026-11-21")
    try:
        with pytest.raises(RunInProgress) as refused:
            RunLock(settings).acquire("stl run", wait=False)
        assert f"pid {holder.pid} on {socket.gethostname()}" in str(refused.value)
        assert "command `stl run --partition 2026-11-21`" in str(refused.value)

        messages: list[str] = []
        waiter = RunLock(settings)
        got_it = threading.Event()
        thread = threading.Thread(target=lambda: (waiter.acquire("stl run", notify=messages.append), got_it.set()))
        thread.start()
        time.sleep(1.0)
        assert not got_it.is_set()  # queued behind the holder
        assert messages and f"pid {holder.pid}" in messages[0] and messages[0].startswith("waiting for the run")
        holder.terminate()
        assert got_it.wait(timeout=20)
        waiter.release()
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_run_is_freed_with_a_message(settings):
    holder = _hold_lock(settings, "stl demo")
    holder.kill()
    holder.wait()
    lock = RunLock(settings)
    left_behind = lock.acquire("stl run", wait=False)  # no wait: the kernel freed the flock
    try:
        assert left_behind is not None and left_behind.pid == holder.pid and left_behind.command == "stl demo"
        assert left_behind.identity.is_alive() is False
        assert lock.read_owner().pid == os.getpid()
    finally:
        lock.release()
    assert not lock.owner_path.exists()


def test_process_identity_tells_a_reused_pid_apart():
    me = ProcessIdentity.current()
    assert me.is_alive() is True
    assert ProcessIdentity(me.pid, me.host, "1").is_alive() is False  # same pid, another start time
    assert ProcessIdentity(me.pid, "some-other-host", me.process_start).is_alive() is None
    assert ProcessIdentity.from_tags(me.tags()) == me


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_dead_runs_are_failed_and_their_pool_slots_freed_live_ones_are_not(settings):
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    instance = dg.DagsterInstance.get()
    storage = instance.event_log_storage
    storage.set_concurrency_slots(WAREHOUSE_POOL, 3)
    host = socket.gethostname()
    dead = ProcessIdentity(_dead_pid(), host, "12345")
    runs = {
        "dead": DagsterRun(job_name="speed_to_lead_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED,
                           tags=dead.tags()),
        "alive": DagsterRun(job_name="speed_to_lead_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED,
                            tags=ProcessIdentity.current().tags()),
        "ui": DagsterRun(job_name="speed_to_lead_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED),
    }
    for name, run in runs.items():
        instance.add_run(run)
        assert storage.claim_concurrency_slot(WAREHOUSE_POOL, run.run_id, f"raw__{name}").is_claimed

    messages: list[str] = []
    recovered = recover_dead_runs(instance, notify=messages.append)

    assert recovered == [runs["dead"].run_id]
    assert instance.get_run_by_id(runs["dead"].run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(runs["alive"].run_id).status == dg.DagsterRunStatus.STARTED
    assert instance.get_run_by_id(runs["ui"].run_id).status == dg.DagsterRunStatus.STARTED
    assert sorted(pipeline.pool_holders(instance)) == sorted(
        [(runs["alive"].run_id, "raw__alive"), (runs["ui"].run_id, "raw__ui")])
    assert len(messages) == 1 and f"pid {dead.pid}" in messages[0] and runs["dead"].run_id in messages[0]

    # A finished run that still holds a slot (freed nowhere else) is released too.
    instance.report_run_canceled(instance.get_run_by_id(runs["ui"].run_id), message="test")
    assert recover_dead_runs(instance, notify=messages.append) == [runs["ui"].run_id]
    assert pipeline.pool_holders(instance) == [(runs["alive"].run_id, "raw__alive")]


# ---------------------------------------------------------------------------------------------
# Whole runs, killed with SIGKILL at each phase (slow: a copy of the shared demo run, five runs)


STL = [str(Path(sys.executable).parent / "stl")]


class _Run:
    """`stl run` as a subprocess (``stl``: the command that stands for stl), its merged output
    collected line by line."""

    def __init__(self, data_dir: Path, *args: str, stl: list[str] = STL):
        full_env = {**child_env(), "STL_DATA_DIR": str(data_dir), "STL_LANDING_DIR": str(data_dir / "landing")}
        full_env.pop("DAGSTER_HOME", None)
        self.process = subprocess.Popen([*stl, "run", *args], env=full_env,
                                        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self._reader.start()

    def wait_for(self, predicate, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            assert self.process.poll() is None, "run ended early:\n" + "".join(self.lines[-40:])
            time.sleep(0.2)
        raise AssertionError("timed out:\n" + "".join(self.lines[-40:]))

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._reader.join(timeout=10)

    def finish(self, timeout: float = 300) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may not reap orphans at once)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _outputs(data_dir: Path) -> tuple[str, str]:
    from orchestration.delivery.publish import PUBLISHED_DB, REPORT

    return tuple(hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in (data_dir / "output" / "published" / PUBLISHED_DB, data_dir / "output" / REPORT))


@pytest.mark.slow
def test_runs_killed_at_each_phase_leave_nothing_that_blocks_the_next(shared_run, tmp_path):
    # The last good run's outputs: a copy of the session's finished demo run (relocated: its
    # Dagster home, GX project and published outputs follow the new directory).
    data_dir = copy_run(shared_run.settings, tmp_path / "run").data_dir
    old = _outputs(data_dir)

    # 1. Killed during ingestion, while a second run is refused and a third one waits for it.
    first = _Run(data_dir)
    first.wait_for(lambda: first.saw("raw__appointments "))
    refused, second = _Run(data_dir, "--no-wait"), _Run(data_dir)  # both start while the first loads
    assert refused.finish() == 4
    assert any(f"pid {first.process.pid}" in line and "another run is using this warehouse" in line
               for line in refused.lines), "".join(refused.lines)
    second.wait_for(lambda: second.saw(f"waiting for the run in progress on this warehouse to finish: pid {first.process.pid}"))
    first.kill()
    assert _outputs(data_dir) == old

    # 2. The waiting run goes on (it recovers the dead run) and is killed during dbt.
    second.wait_for(lambda: second.saw("raw__activity_lead_matches "))
    second.wait_for(lambda: any("dbt" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")
                                for c in _children(second.process.pid) if _running(c)), timeout=120)
    dbt_children = [c for c in _children(second.process.pid) if "dbt" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]
    assert second.saw("recovered")
    second.kill()
    deadline = time.monotonic() + 10
    while any(_running(c) for c in dbt_children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_running(c) for c in dbt_children), "the dbt child outlived its killed parent"
    assert _outputs(data_dir) == old

    # 3. Killed during the statistics (run alone, as the weekly schedule runs them).
    third = _Run(data_dir, "--statistics")
    third.wait_for(lambda: third.saw("stats__"))
    third.kill()
    assert _outputs(data_dir) == old

    # 4. Killed while publishing, just before the atomic swap (tests/pause_before_commit.py); a
    # daily run, which publishes without fitting the statistics first.
    pause = data_dir / "pause_before_commit"
    fourth = _Run(data_dir, "--daily", stl=[sys.executable, "-m", "tests.pause_before_commit", str(pause)])
    fourth.wait_for(lambda: pause.exists())
    fourth.kill()
    assert _outputs(data_dir) == old

    # 5. The next run completes, in bounded time, and publishes a complete new version.
    started = time.monotonic()
    last = _Run(data_dir)
    assert last.finish(timeout=300) == 0, "".join(last.lines[-60:])
    assert time.monotonic() - started < 300
    assert last.saw("Done. Where to look")
    import duckdb

    from orchestration.delivery.publish import PUBLISHED_DB

    with duckdb.connect(str(data_dir / "output" / "published" / PUBLISHED_DB), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.fct_lead_response").fetchone()[0] > 0
    os.environ["DAGSTER_HOME"] = str(data_dir / "dagster_home")
    instance = dg.DagsterInstance.get()
    assert pipeline.pool_holders(instance) == []
    unfinished = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert unfinished == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    found, frontier = set(), [pid]
    while frontier:
        for child in _children(frontier.pop()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


@pytest.mark.slow
def test_sigterm_to_stl_ui_stops_dagster_dev_and_its_children(tmp_path):
    env = {**child_env(), "STL_DATA_DIR": str(tmp_path)}
    env.pop("DAGSTER_HOME", None)
    port = _free_port()
    ui = subprocess.Popen([str(Path(sys.executable).parent / "stl"), "ui", "--port", str(port)], env=env, cwd=REPO,
                          preexec_fn=default_stop_signals,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert ui.poll() is None, "stl ui ended early"
            time.sleep(1)
        else:
            raise AssertionError("the Dagster UI did not come up")
        family = _descendants(ui.pid)
        assert len(family) >= 2  # dagster dev and at least its webserver
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(_running(p) for p in family) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [p for p in family if _running(p)], "children of stl ui survived its SIGTERM"
    finally:
        for pid in _descendants(ui.pid) if ui.poll() is None else ():
            os.kill(pid, signal.SIGKILL)
        ui.kill()
        ui.wait()
