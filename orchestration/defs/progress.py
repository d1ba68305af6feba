"""`stl run`'s terminal progress (one line per finished step, with its wall time) and run log, as
a Dagster logger. Apart from pipeline.py, which runs the job, because the definitions name this
logger and pipeline.py imports the definitions."""

from __future__ import annotations

import logging
from typing import TextIO

import dagster as dg

from orchestration.warehouse import WAREHOUSE_POOL


class _ProgressHandler(logging.Handler):
    """One terminal line per finished step with its wall time; every record to the run log."""

    def __init__(self, terminal: TextIO | None, log_file: TextIO | None):
        super().__init__(logging.DEBUG)
        self.terminal, self.log_file = terminal, log_file
        self.started: dict[str, float] = {}
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if self.log_file is not None:
            self.log_file.write(self.format(record) + "\n")
            self.log_file.flush()
        event = getattr(record, "dagster_meta", {}).get("dagster_event")
        if self.terminal is None or event is None or event.step_key is None:
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started[event.step_key] = record.created
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds = record.created - self.started.get(event.step_key, record.created)
            verdict = "ok" if kind == "STEP_SUCCESS" else "FAILED"
            self.terminal.write(f"  {event.step_key:60s} {seconds:7.2f} s  {verdict}\n")
            self.terminal.flush()
        elif kind == "ENGINE_EVENT" and (event.message or "").startswith("Step blocked by limit for pool"):
            self.terminal.write(f"  {event.step_key}: waiting for a {WAREHOUSE_POOL} pool slot held by another run\n")
            self.terminal.flush()


# Set by run_main_job for the run it starts (the logger is built inside Dagster's execution).
progress_streams: dict[str, TextIO | None] = {"terminal": None, "log_file": None}


@dg.logger(description="stl's terminal progress (one line per step) and run log file; set up by `stl run`.")
def stl_progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.getLogger(f"stl.run.{init_context.run_id}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.handlers = [_ProgressHandler(progress_streams["terminal"], progress_streams["log_file"])]
    return logger
