"""Only one writer touches the DuckDB file at a time: a second writer waits for the lock."""

from __future__ import annotations

import subprocess
import sys
import time

from orchestration import warehouse


def test_second_writer_waits_for_the_first(settings):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time, sys; from orchestration.settings import Settings; from orchestration import warehouse; "
        f"s = Settings.from_env({{'STL_DATA_DIR': {str(settings.data_dir)!r}}}); "
        "cm = warehouse.writer(s); con = cm.__enter__(); con.execute('CREATE TABLE t AS SELECT 1 AS x'); "
        "print('locked', flush=True); time.sleep(2); cm.__exit__(None, None, None)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    started = time.perf_counter()
    with warehouse.writer(settings) as con:
        waited = time.perf_counter() - started
        assert con.execute("SELECT x FROM t").fetchone() == (1,)
    holder.wait(timeout=30)
    assert waited > 1.0  # it queued behind the holder instead of failing on DuckDB's file lock


def test_a_waiting_writer_says_what_it_waits_for(settings, capsys):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from orchestration.settings import Settings; from orchestration import warehouse; "
        f"s = Settings.from_env({{'STL_DATA_DIR': {str(settings.data_dir)!r}}}); "
        "cm = warehouse.warehouse_lock(s); cm.__enter__(); print('locked', flush=True); time.sleep(1.5)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with warehouse.warehouse_lock(settings):
        pass
    holder.wait(timeout=30)
    assert f"waiting for the warehouse lock {settings.lock_path}" in capsys.readouterr().err
