"""Test-only: stop a run at the publish commit point, so a test can kill it there.

    python -m tests.pause_before_commit PAUSE_FILE [stl arguments ...]

runs the normal ``stl`` entry point with ``publish.commit`` wrapped: when the publish step is
about to commit (everything staged beside its destination, nothing in place yet), it writes
PAUSE_FILE and waits while that file exists (or until the test kills the process). ``install``
does the same in a process that runs a job itself."""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

from orchestration.delivery import publish

PAUSE_TIMEOUT_SECONDS = 300  # a test that forgot its run does not leave it waiting for ever


def install(pause_file: Path) -> None:
    commit = publish.commit

    @functools.wraps(commit)
    def paused_commit(*args, **kwargs):
        pause_file.write_text(str(os.getpid()))
        deadline = time.monotonic() + PAUSE_TIMEOUT_SECONDS
        while pause_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return commit(*args, **kwargs)

    publish.commit = paused_commit  # the published_marts asset calls it as publish.commit


if __name__ == "__main__":
    install(Path(sys.argv[1]))
    from orchestration.cli import main

    sys.argv = ["stl", *sys.argv[2:]]
    sys.exit(main())
