"""Running the main Dagster job from a terminal (the CLI's demo and run, and the benchmark), and
the run control around it: one run at a time, recovery from runs that died, a run log, and a
failure that explains itself.

Why a run lock of our own, on top of Dagster's ``warehouse`` concurrency pool: the pool's slots
live in Dagster's instance database, and a run killed with SIGKILL never frees them, so the next
run waited forever (Dagster's in-process executor polls a blocked claim without sleeping: ~80 %
of a core). The run lock is an ``flock`` the kernel releases the moment its process dies; while
we hold it, no other ``stl run`` on this warehouse is alive, so a Dagster run we tagged as ours
whose process is gone is certainly dead: we mark it failed and free its pool slots. Runs we did
not start (from the UI) are never touched: we wait for them and say so. See docs/operations.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import dagster as dg

from orchestration.defs.progress import progress_streams
from orchestration.settings import Settings
from orchestration.warehouse import WAREHOUSE_POOL

# Tags on every run started here: enough to tell later whether the run's process is still alive.
TAG_PID, TAG_HOST, TAG_PROCESS_START = "stl/pid", "stl/host", "stl/process_start"

EXIT_OK, EXIT_CRASHED, EXIT_USAGE, EXIT_GATE_STOPPED, EXIT_BUSY = 0, 1, 2, 3, 4

Notify = Callable[[str], None]


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Process identity and liveness


def _process_start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22): with the
    pid it names one process, so a pid reused by a later process is not mistaken for the owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    host: str
    process_start: str | None

    @classmethod
    def current(cls) -> ProcessIdentity:
        return cls(os.getpid(), socket.gethostname(), _process_start_ticks(os.getpid()))

    def is_alive(self) -> bool | None:
        """True / False on this host; None for another host's process (we cannot tell)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, another user's
            pass
        started = _process_start_ticks(self.pid)
        if started is None:
            return False
        return self.process_start is None or started == self.process_start

    def tags(self) -> dict[str, str]:
        return {TAG_PID: str(self.pid), TAG_HOST: self.host, TAG_PROCESS_START: self.process_start or ""}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> ProcessIdentity | None:
        if TAG_PID not in tags or TAG_HOST not in tags:
            return None
        return cls(int(tags[TAG_PID]), tags[TAG_HOST], tags.get(TAG_PROCESS_START) or None)


# ---------------------------------------------------------------------------------------------
# The run lock


@dataclass(frozen=True)
class RunOwner:
    """Who holds the run lock, written next to it for the messages of those who wait."""

    pid: int
    host: str
    process_start: str | None
    started_at: str
    command: str
    run_id: str | None = None

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.host, self.process_start)

    def describe(self) -> str:
        run = f", Dagster run {self.run_id}" if self.run_id else ""
        return f"pid {self.pid} on {self.host}, started {self.started_at}, command `{self.command}`{run}"


class RunInProgress(RuntimeError):
    """Another run holds the warehouse's run lock and we were told not to wait."""

    def __init__(self, owner: RunOwner | None, lock_path: Path):
        self.owner = owner
        who = owner.describe() if owner else "a process that has not written its owner record yet"
        super().__init__(f"another run is using this warehouse: {who} (lock {lock_path})")


def run_lock_path(settings: Settings) -> Path:
    return settings.warehouse_path.with_name(settings.warehouse_path.name + ".run.lock")


class RunLock:
    """One run at a time per warehouse: an exclusive ``flock`` (released by the kernel when the
    holder dies, however it dies) plus an owner record for the messages. The file descriptor is
    not inherited by child processes (Python opens files non-inheritable), so an orphaned child
    cannot keep the lock."""

    def __init__(self, settings: Settings):
        self.path = run_lock_path(settings)
        self.owner_path = self.path.with_name(self.path.name + ".owner.json")
        self._fd: int | None = None

    def read_owner(self) -> RunOwner | None:
        try:
            return RunOwner(**json.loads(self.owner_path.read_text()))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, TypeError):  # a torn or foreign file: no owner to name
            return None

    def _write_owner(self, owner: RunOwner) -> None:
        scratch = self.owner_path.with_name(self.owner_path.name + f".{os.getpid()}.tmp")
        scratch.write_text(json.dumps(asdict(owner)))
        os.replace(scratch, self.owner_path)  # readers see the old record or the new one, never half

    def acquire(self, command: str, wait: bool = True, notify: Notify = _to_stderr) -> RunOwner | None:
        """Take the lock (waiting, with a message naming the holder, or raising RunInProgress).
        Returns the owner record a dead holder left behind, if any (the caller recovers its runs)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                holder = self.read_owner()
                if not wait:
                    raise RunInProgress(holder, self.path) from None
                who = holder.describe() if holder else "another process"
                notify(f"waiting for the run in progress on this warehouse to finish: {who}")
                started = time.monotonic()
                fcntl.flock(fd, fcntl.LOCK_EX)  # blocks; Ctrl-C / SIGTERM still interrupt it
                notify(f"the earlier run finished; starting (waited {time.monotonic() - started:.0f} s)")
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        left_behind = self.read_owner()
        me = ProcessIdentity.current()
        self.owner = RunOwner(me.pid, me.host, me.process_start,
                              dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), command)
        self._write_owner(self.owner)
        # We hold the flock, so whoever wrote a remaining record is gone (or it is another host's
        # holder on a file system without flock, which we cannot help).
        return left_behind if left_behind and left_behind.identity != me else None

    def note_run_id(self, run_id: str) -> None:
        self.owner = RunOwner(**{**asdict(self.owner), "run_id": run_id})
        self._write_owner(self.owner)

    def release(self) -> None:
        if self._fd is None:
            return
        self.owner_path.unlink(missing_ok=True)
        os.close(self._fd)  # closing the descriptor drops the flock
        self._fd = None


# ---------------------------------------------------------------------------------------------
# Dagster's side: runs of dead processes, and pool slots


def recover_dead_runs(instance: dg.DagsterInstance, notify: Notify = _to_stderr) -> list[str]:
    """Mark failed every unfinished run we started whose process is gone, and free the warehouse
    pool slots (claimed or pending) of those runs and of any finished run. Returns the run ids."""
    live_statuses = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                     dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    recovered = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=live_statuses)):
        owner = ProcessIdentity.from_tags(dict(run.tags))
        if owner is None or owner.is_alive() is not False:
            continue  # a run the UI launched, another host's, or alive: not ours to end
        instance.report_run_failed(run, message=f"The process running this run (pid {owner.pid} on {owner.host}) "
                                                "is gone (killed?); marked failed by the next `stl run`.")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        notify(f"recovered: run {run.run_id} ({run.job_name}) died with its process (pid {owner.pid}); "
               "marked it failed and freed its warehouse pool slot")
        recovered.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        info = storage.get_concurrency_info(WAREHOUSE_POOL)
        holders = {s.run_id for s in info.claimed_slots} | {p.run_id for p in info.pending_steps}
        for run_id in holders - set(recovered):
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
                notify(f"freed a warehouse pool slot left by finished run {run_id}")
                recovered.append(run_id)
    return recovered


def pool_holders(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """(run id, step) of every claimed warehouse pool slot."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    return [(s.run_id, s.step_key) for s in storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots]


def wait_for_pool(instance: dg.DagsterInstance, notify: Notify = _to_stderr, poll_seconds: float = 2.0) -> None:
    """Wait (sleeping, with a message) while a live run, e.g. one launched from the UI, holds the
    warehouse pool: entering Dagster's own wait would spin a core until the slot frees."""
    told = set()
    while holders := pool_holders(instance):
        for run_id, step in holders:
            if (run_id, step) not in told:
                run = instance.get_run_by_id(run_id)
                job = run.job_name if run else "?"
                notify(f"waiting for the warehouse pool: run {run_id} ({job}) is in step {step}. If that run "
                       "is dead, terminate it in the UI (Runs → Terminate) and this run continues.")
                told.add((run_id, step))
        time.sleep(poll_seconds)
        recover_dead_runs(instance, notify)


# ---------------------------------------------------------------------------------------------
# The run log


def run_log_path(settings: Settings, run_id: str) -> Path:
    return settings.output_dir / "logs" / f"run_{run_id}.log"


@contextlib.contextmanager
def _quiet_run_output(log_file: TextIO) -> Iterator[TextIO]:
    """Send this process's stdout and stderr (dbt's stream that dagster-dbt re-prints, warnings,
    library chatter) to the run log; yield the terminal for the progress lines."""
    terminal = sys.stdout
    with contextlib.redirect_stdout(log_file), contextlib.redirect_stderr(log_file):
        yield terminal


# ---------------------------------------------------------------------------------------------
# Running the job


MAIN_JOB = "speed_to_lead_job"


def run_main_job(settings: Settings, partition: dt.date | None = None, full_load: bool = True, *,
                 quiet: bool = False, wait: bool = True, command: str | None = None, notify: Notify = _to_stderr,
                 job_name: str = MAIN_JOB):
    """Execute speed_to_lead_job (or ``job_name``: daily_job is the daily schedule's run without
    the statistics, statistics_job the statistics alone) in this process against the configured
    instance.

    ``full_load`` reads every landing file (the first load); otherwise only the partition's
    extract date. ``quiet``: one terminal line per step; Dagster's log, dbt's output and
    warnings go to the run log (``run_log_path``). ``wait``: queue behind a run in progress
    (else raise RunInProgress). Returns the Dagster ExecuteInProcessResult."""
    settings.ensure_dirs()
    # This process runs the job: its DAGSTER_HOME is the settings' (the instance of every stl run).
    os.environ.update(settings.process_env())

    lock = RunLock(settings)
    left_behind = lock.acquire(command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), wait=wait, notify=notify)
    try:
        if left_behind:
            notify(f"recovered: the previous run ({left_behind.describe()}) ended without releasing the run "
                   "lock (its process is gone); cleaning up after it")
        from orchestration.dbt_project import prepare_manifest

        prepare_manifest()

        from orchestration.defs.definitions import defs
        from orchestration.defs.jobs import full_load_run_config

        instance = dg.DagsterInstance.get()
        recover_dead_runs(instance, notify)
        wait_for_pool(instance, notify)

        job = defs.resolve_job_def(job_name)
        if job.partitions_def is None:  # statistics_job: the current marts, not an extract date
            key = None
        else:
            key = partition.isoformat() if partition else job.partitions_def.get_last_partition_key()
        # Only the job's own ingestion steps take the full-load config (statistics_job has none).
        run_config = {"ops": {op: config for op, config in full_load_run_config()["ops"].items()
                              if job.graph.has_node_named(op)}} if full_load else {}
        run_id = str(uuid.uuid4())
        lock.note_run_id(run_id)
        log_path = run_log_path(settings, run_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log_file, contextlib.ExitStack() as stack:
            if quiet:
                progress_streams.update(terminal=stack.enter_context(_quiet_run_output(log_file)), log_file=log_file)
                run_config["loggers"] = {"stl_progress": {}}
            else:
                # A terminal that asked for the full stream gets Dagster's INFO lines; the log keeps them too.
                progress_streams.update(terminal=None, log_file=log_file)
                run_config["loggers"] = {"console": {"config": {"log_level": "INFO"}}, "stl_progress": {}}
            try:
                result = job.execute_in_process(
                    instance=instance, partition_key=key, run_config=run_config, raise_on_error=False,
                    run_id=run_id, tags=ProcessIdentity.current().tags(),
                )
            finally:
                progress_streams.update(terminal=None, log_file=None)
            _write_failure_tracebacks(result, log_file)
        return result
    finally:
        lock.release()


def exit_after_run(code: int) -> None:
    """End a process whose run is over and whose files are closed, skipping the interpreter's
    finalisation. Its last garbage collection walks everything Dagster, dbt's manifest and GX
    left (about 2 s after a 10k-lead run); and after a run DuckDB's module objects outlive it
    (root cause not found; plain DuckDB use does not show it, the GX validations do), so
    nanobind prints ~80 lines of "leaked instances" that are noise, not a problem of the run."""
    import atexit

    atexit._run_exitfuncs()  # what finalisation does first (multiprocessing's clean-up, logging)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _write_failure_tracebacks(result, log_file: TextIO) -> None:
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            log_file.write(f"\n===== step {event.step_key} failed =====\n{event.event_specific_data.error.to_string()}\n")


def step_timings(result) -> dict[str, float]:
    """Wall seconds per step of a finished in-process run, from the instance's event log."""
    starts, timings = {}, {}
    for entry in dg.DagsterInstance.get().all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts:
            timings[event.step_key] = round(entry.timestamp - starts[event.step_key], 3)
    return timings


# ---------------------------------------------------------------------------------------------
# Failure that explains


@dataclass(frozen=True)
class StepFailure:
    step_key: str
    error_class: str
    message: str
    stopped_by_gate: bool

    def advice(self) -> str:
        """What to do, by the kind of root cause."""
        if self.stopped_by_gate:
            return "see the gate's alert above; fix the extract it names and run again"
        if self.error_class in ("ContractError", "MappingError", "DuplicateColumn"):
            return ("fix or remove that file in the landing directory (docs/data_contract.md), then run again; "
                    "files already loaded are skipped")
        if self.error_class == "SuiteError":
            return "fix the suite file in expectations/ that the message names"
        if self.error_class in ("DbtCliInvocationError", "DagsterDbtCliRuntimeError"):
            return "a dbt model or test failed: the dbt errors are in the run log; `stl dbt build` reproduces it"
        if self.error_class in ("IOException", "ConnectionException") and "lock" in self.message.lower():
            return "another process holds the warehouse file; stop it (or wait) and run again"
        if self.error_class in ("OSError", "PermissionError") or "No space left" in self.message:
            return "check disk space and permissions of the data directory, then run again"
        return "this looks like a bug or an environment problem: the full traceback is in the run log"


def _error_chain(error) -> list:
    """The links of a SerializableErrorInfo chain, outermost first: ``cause`` (raise ... from)
    before ``context`` (raised while handling another)."""
    chain = []
    while error is not None and len(chain) < 50:
        chain.append(error)
        error = error.cause or error.context
    return chain


def root_cause(error) -> object:
    """The op's own exception: Dagster wraps it (DagsterExecutionStepExecutionError: Error
    occurred while executing op ...), so skip Dagster's wrappers and take the first error our code
    raised; it names the file and column. What it was raised from (a KeyError, a parser error)
    is a detail for the log. Only Dagster errors in the chain: the innermost one."""
    chain = _error_chain(error)
    own = [link for link in chain if not (link.cls_name or "").startswith("Dagster")]
    return own[0] if own else chain[-1]


def step_failures(result) -> list[StepFailure]:
    failures = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.event_specific_data.error
        chain = [link.cls_name for link in _error_chain(error)]
        root = root_cause(error)
        failures.append(StepFailure(
            step_key=event.step_key,
            error_class=root.cls_name or "Error",
            message=_without_class_prefix(root.message or "", root.cls_name),
            stopped_by_gate="DagsterAssetCheckFailedError" in chain,
        ))
    return failures


def _without_class_prefix(message: str, cls_name: str | None) -> str:
    """'orchestration.ingest.loader.ContractError: leads/x.csv: ...' → 'leads/x.csv: ...'
    (the message as Python's traceback module formats it starts with the qualified class)."""
    message = message.strip()
    head, sep, rest = message.partition(": ")
    if sep and cls_name and (head == cls_name or head.endswith("." + cls_name)):
        return rest.strip()
    return message


def exit_code(run_succeeded: bool, failures: list[StepFailure], gate_stopped: bool) -> int:
    """0 success; 3 stopped by a data-quality gate and nothing else went wrong; 1 crashed."""
    if any(not f.stopped_by_gate for f in failures):
        return EXIT_CRASHED
    if gate_stopped or failures:
        return EXIT_GATE_STOPPED
    return EXIT_OK if run_succeeded else EXIT_CRASHED


def failure_banner(failures: list[StepFailure], code: int, log_path: Path) -> str:
    crashed = [f for f in failures if not f.stopped_by_gate]
    title = ("RUN STOPPED BY A DATA-QUALITY GATE (exit code 3)" if code == EXIT_GATE_STOPPED
             else f"RUN FAILED (exit code {code})")
    lines = ["", "=" * 72, title]
    for failure in crashed or failures:
        lines += [f"  step:        {failure.step_key}",
                  f"  cause:       {failure.message.splitlines()[0] if failure.message else failure.error_class}",
                  f"  error type:  {failure.error_class}",
                  f"  what to do:  {failure.advice()}"]
    if not failures:
        lines.append("  no step failed but the run did not succeed")
    lines += ["  Steps after the failure did not run; the published marts and the report keep their last good version.",
              f"  full log and tracebacks: {log_path}", "=" * 72]
    return "\n".join(lines)
