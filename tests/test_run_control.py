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
from dagster._core.storage.dagster_run import DagsterRun

from orchestration import pipeline
from orchestration.pipeline import ProcessIdentity, RunInProgress, RunLock, recover_dead_runs

REPO = Path(__file__).resolve().parent.parent


def _hold_lock(settings, command: str) -> subprocess.Popen:
    """A process that takes the run lock, says so, and sleeps until killed."""
    child = subprocess.Popen([sys.executable, "-c", (
        "import time; from orchestration.settings import Settings; from orchestration.pipeline import RunLock; "
        f"s = Settings.from_env({{'STL_DATA_DIR': {str(settings.data_dir)!r}}}); "
        f"RunLock(s).acquire({command!r}); print('locked', flush=True); time.sleep(600)")],
        stdout=subprocess.PIPE, text=True)
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
    storage.set_concurrency_slots(pipeline.WAREHOUSE_POOL, 3)
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
        assert storage.claim_concurrency_slot(pipeline.WAREHOUSE_POOL, run.run_id, f"raw__{name}").is_claimed

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
