"""A throwaway PostgreSQL server for tests, started by the test suite itself.

``running_postgres()`` yields a SQLAlchemy URL (``postgresql+psycopg2://...``) of an empty
database and removes everything at exit:

- with ``STL_TEST_POSTGRES_URL`` set, that server is used: a uniquely named database is created
  in it (or, without the CREATEDB privilege, a schema made the connection's search_path) and
  dropped afterwards;
- otherwise the PostgreSQL server binaries (``initdb``, ``pg_ctl``; on PATH or under the usual
  install directories) start a private cluster in a temporary directory: loopback only, on a
  free port, unix socket inside the directory, trust authentication, fsync off. The server
  refuses to run as root, so as root the cluster belongs to the ``postgres`` system user and
  the binaries run through ``runuser`` (or ``su``).

When neither is available, ``PostgresUnavailable`` says why (the fixture turns it into a skip).
A server that is available but fails to start raises ``PostgresStartError`` with the tail of its
log: that is a broken environment, not a reason to skip silently.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

URL_ENV = "STL_TEST_POSTGRES_URL"
DATABASE = "stl_test"
SUPERUSER = "postgres"
SYSTEM_USER = "postgres"  # owner of the cluster when the tests run as root
START_TIMEOUT_S = 30
_SEARCH_DIRS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/usr/local/pgsql/bin",  # source builds
    "/opt/homebrew/opt/postgresql*/bin",
    "/usr/local/opt/postgresql*/bin",
    "/Applications/Postgres.app/Contents/Versions/*/bin",
)


class PostgresUnavailable(Exception):
    """No PostgreSQL for the tests: neither a URL nor server binaries (the message says which)."""


class PostgresStartError(RuntimeError):
    """The server binaries exist but the cluster could not be created or started."""


# ---------------------------------------------------------------- helpers


def psycopg2_url(url: str) -> str:
    """SQLAlchemy 2.1 reads ``postgresql://`` as psycopg 3; the project uses psycopg2."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    raise ValueError(f"{URL_ENV} must be a postgresql:// URL, got {url.split('://')[0]}://...")


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path)) or (0,)


def find_bindir() -> Path | None:
    """Directory holding ``initdb`` and ``pg_ctl``: PATH first, then the newest usual install."""
    on_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if all(on_path):
        # Resolve symlinks (Debian's /usr/bin/pg_ctl is a wrapper; /usr/local/bin may link to the
        # real bin dir) only to check both live together; the PATH entries themselves work.
        initdb, pg_ctl = (Path(p) for p in on_path)
        if initdb.parent == pg_ctl.parent:
            return initdb.parent
        if initdb.resolve().parent == pg_ctl.resolve().parent:
            return initdb.resolve().parent
    candidates = [d for pattern in _SEARCH_DIRS for d in glob.glob(pattern)
                  if os.access(os.path.join(d, "initdb"), os.X_OK) and os.access(os.path.join(d, "pg_ctl"), os.X_OK)]
    if not candidates:
        return None
    return Path(max(candidates, key=_version_key))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class _Runner:
    """Runs the server binaries as the current user, or as ``postgres`` when we are root."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.prefix: list[str] = []
        self.shell = False
        if _is_root():
            import pwd

            try:
                self.uid, self.gid = pwd.getpwnam(SYSTEM_USER)[2:4]
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root and there is no {SYSTEM_USER!r} system user to own the test "
                    f"cluster (PostgreSQL refuses to run as root); create one or set {URL_ENV}") from None
            if shutil.which("runuser"):
                self.prefix = ["runuser", "-u", SYSTEM_USER, "--"]
            elif shutil.which("su"):
                self.prefix, self.shell = ["su", "-s", "/bin/sh", SYSTEM_USER, "-c"], True
            else:
                raise PostgresUnavailable(
                    f"running as root without runuser or su to switch to {SYSTEM_USER!r}; set {URL_ENV}")

    def chown(self, path: Path) -> None:
        if self.prefix:
            os.chown(path, self.uid, self.gid)

    def run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        command = self.prefix + ([shlex.join(args)] if self.shell else args)
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        # cwd: the postgres user may not be allowed into ours (e.g. /root).
        return subprocess.run(command, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)


def _connect(**params):
    import psycopg2

    return psycopg2.connect(connect_timeout=10, **params)


# ---------------------------------------------------------------- a private cluster


_CONFIG = """
# written by tests/pg_server.py: a disposable test server
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 30
shared_buffers = 16MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
autovacuum = off
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
"""


@contextlib.contextmanager
def _private_cluster(bindir: Path) -> Iterator[str]:
    # A short base path (a unix socket path must fit in ~100 bytes), and as root one the
    # postgres user can reach (TMPDIR may be under /root).
    base = tempfile.gettempdir()
    if (len(base) > 60 or _is_root()) and os.path.isdir("/tmp"):
        base = "/tmp"
    tmp = Path(tempfile.mkdtemp(prefix="stl_pg_", dir=base))
    runner = None
    data, log = tmp / "data", tmp / "server.log"
    started = False
    try:
        runner = _Runner(tmp)
        runner.chown(tmp)  # the postgres user creates data/, the socket and the log in here
        initdb = runner.run([str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust",
                             "-E", "UTF8", "--no-locale", "--no-sync"], timeout=120)
        if initdb.returncode != 0:
            raise PostgresStartError(
                f"initdb failed (exit {initdb.returncode}):\n{initdb.stdout[-2000:]}\n{initdb.stderr[-2000:]}")
        last_error = ""
        for _attempt in range(3):  # the free port can be taken between choosing and binding it
            port = _free_port()
            with (data / "postgresql.conf").open("a") as conf:
                conf.write(_CONFIG.format(port=port, socket_dir=tmp))
            start = runner.run([str(bindir / "pg_ctl"), "start", "-w", "-t", str(START_TIMEOUT_S),
                                "-D", str(data), "-l", str(log)], timeout=START_TIMEOUT_S + 15)
            if start.returncode == 0:
                started = True
                break
            last_error = (f"pg_ctl start failed (exit {start.returncode}): {start.stderr.strip() or start.stdout.strip()}"
                          f"\n--- server log (tail) ---\n{_tail(log)}")
            if "already in use" not in _tail(log):
                break
        if not started:
            raise PostgresStartError(last_error)
        try:
            conn = _connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres")
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{DATABASE}"')
            conn.close()
        except Exception as exc:
            raise PostgresStartError(f"server started but creating the database failed: {exc}"
                                     f"\n--- server log (tail) ---\n{_tail(log)}") from exc
        yield f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
    finally:
        # Also after a failed or timed-out start: a postmaster.pid means a server may be up.
        if runner is not None and (started or (data / "postmaster.pid").exists()):
            stop = runner.run([str(bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(data)], timeout=60)
            if stop.returncode != 0:
                runner.run([str(bindir / "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(data)], timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- an external server


@contextlib.contextmanager
def _throwaway_database(url: str) -> Iterator[str]:
    """A new database on the given server (or a new schema, without CREATEDB), dropped after."""
    import psycopg2
    import sqlalchemy as sa

    base = sa.make_url(psycopg2_url(url))
    params = {"host": base.host, "port": base.port, "user": base.username, "password": base.password,
              "dbname": base.database or "postgres",
              **{k: v for k, v in base.query.items() if isinstance(v, str)}}
    params = {k: v for k, v in params.items() if v is not None}
    shown = base.render_as_string(hide_password=True)
    try:
        admin = _connect(**params)
    except psycopg2.Error as exc:
        raise PostgresStartError(f"cannot connect to {URL_ENV} ({shown}): {exc}") from exc
    admin.autocommit = True
    name = f"stl_test_{uuid.uuid4().hex[:12]}"
    kind = None
    try:
        with admin.cursor() as cur:
            try:
                cur.execute(f'CREATE DATABASE "{name}"')
                kind = "database"
            except psycopg2.errors.InsufficientPrivilege:
                cur.execute(f'CREATE SCHEMA "{name}"')  # a schema first on the search path instead
                kind = "schema"
        if kind == "database":
            yield base.set(database=name).render_as_string(hide_password=False)
        else:
            query = {**base.query, "options": f"-csearch_path={name}"}
            yield base.set(query=query).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cur:
            if kind == "database":
                try:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except psycopg2.errors.SyntaxError:  # before PostgreSQL 13: no FORCE
                    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            elif kind == "schema":
                cur.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        admin.close()


# ---------------------------------------------------------------- entry point


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Yield the SQLAlchemy URL of an empty PostgreSQL database; clean everything up after.

    Raises PostgresUnavailable (skip) when there is neither STL_TEST_POSTGRES_URL nor a server
    installation, PostgresStartError when the server is there but does not work.
    """
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        with _throwaway_database(url) as test_url:
            yield test_url
        return
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL tests need a server: install the PostgreSQL server binaries (initdb, pg_ctl "
            f"on PATH or under /usr/lib/postgresql/*/bin) or set {URL_ENV}=postgresql://user:pw@host:port/db")
    with _private_cluster(bindir) as test_url:
        yield test_url
