"""A throwaway PostgreSQL server for tests, and a fresh database on it per test.

`start_server()` runs initdb and pg_ctl in a new temporary directory and starts a server listening only on
127.0.0.1, on a free port, with trust authentication and durability turned off (it is thrown away).
As root (initdb refuses to run as root) the server runs as the `postgres` system user through `runuser`,
the directory owned by it. `external_server(url)` uses a server someone else runs (TEST_DATABASE_URL) instead.
Either way `server.create_database()` makes an empty database with a unique name and returns a SQLAlchemy URL
`postgresql+psycopg://user@127.0.0.1:PORT/name`, and `server.drop_database(url)` removes it again.

Everything that stops a server from being had raises `Unavailable` with the reason (which binary is missing,
why initdb or the server failed, with the end of its log); the fixtures in conftest.py turn it into a skip.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

SUPERUSER = "postgres"
SERVER_USER = "postgres"  # the system user the server runs as when the tests run as root
START_SECONDS = 60
STOP_SECONDS = 30
# Settings for a server whose data is thrown away: no fsync, no unix socket outside its own directory.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
}
_names = itertools.count(1)


class Unavailable(Exception):
    """No PostgreSQL server can be had; the message says why."""


def find_binaries() -> tuple[Path, Path]:
    """initdb and pg_ctl from one installation: on PATH, else the newest /usr/lib/postgresql/*/bin (Debian)."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(v) for v in versions), key=lambda p: _version(p.parent.name), reverse=True)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory / "initdb", directory / "pg_ctl"
    pg_ctl = shutil.which("pg_ctl")
    if on_path and pg_ctl:
        return Path(on_path), Path(pg_ctl)
    missing = " and ".join(name for name in ("initdb", "pg_ctl") if not shutil.which(name)) or "initdb/pg_ctl"
    raise Unavailable(f"PostgreSQL's {missing} not found on PATH nor in /usr/lib/postgresql/*/bin (`.ci/run` "
                      "installs the postgresql package with apt-get when permitted; or set TEST_DATABASE_URL)")


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A PostgreSQL server reachable at `admin_url` (a SQLAlchemy URL with a database one may connect to)."""

    admin_url: URL
    data_dir: Path | None = None  # set when this process started the server (and so stops it)
    pg_ctl: Path | None = None
    as_user: str | None = None
    created: list[str] = field(default_factory=list)

    def _connect(self) -> psycopg.Connection:
        url = self.admin_url
        return psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                               dbname=url.database or "postgres", autocommit=True, connect_timeout=10)

    def create_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL (psycopg 3 driver), password included."""
        name = f"test_{os.getpid()}_{next(_names)}_{uuid.uuid4().hex[:8]}"
        with self._connect() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        url = self.admin_url.set(drivername="postgresql+psycopg", database=name)
        return url.render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        """Drop a database made by create_database, ending any connections still open to it."""
        name = make_url(url).database
        if name not in self.created:
            raise ValueError(f"{name!r} was not created by this harness")
        with self._connect() as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.created.remove(name)

    def stop(self) -> None:
        """Stop a server this process started and remove its directory; a no-op for an external one."""
        if self.data_dir is None or self.pg_ctl is None:
            return
        try:
            _run([str(self.pg_ctl), "-D", str(self.data_dir / "data"), "-m", "fast", "-w",
                  "-t", str(STOP_SECONDS), "stop"], self.as_user, self.data_dir, STOP_SECONDS + 10)
        except (subprocess.SubprocessError, OSError):
            _kill_postmaster(self.data_dir / "data")
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None


def _kill_postmaster(data: Path) -> None:
    """Last resort when pg_ctl stop fails: the postmaster's pid is the first line of postmaster.pid."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGQUIT)


def _run(command: list[str], as_user: str | None, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    if as_user is not None:
        command = ["runuser", "-u", as_user, "--", *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # PGDATA, PGPORT... would interfere
    env.update(LC_ALL="C", LANG="C")
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=True)


def _why(error: subprocess.CalledProcessError | subprocess.TimeoutExpired, log: Path | None = None) -> str:
    output = (error.stdout or "") + (error.stderr or "")
    if isinstance(output, bytes):
        output = output.decode(errors="replace")
    if log is not None and log.exists():
        output += log.read_text(errors="replace")
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return " | ".join(lines[-6:]) or "no output"


def _server_user() -> str | None:
    """None when the tests may run the server themselves; else the system user to run it as (when root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise Unavailable(f"running as root (initdb refuses to) and there is no `{SERVER_USER}` system user to "
                          "run the server as (Debian's postgresql package creates it)") from None
    if shutil.which("runuser") is None:
        raise Unavailable(f"running as root (initdb refuses to) and `runuser` is missing to run it as {SERVER_USER}")
    return SERVER_USER


def start_server(attempts: int = 3) -> Server:
    """initdb a new cluster in a temporary directory and start it on 127.0.0.1 on a free port."""
    initdb, pg_ctl = find_binaries()
    as_user = _server_user()
    # Not under pytest's tmp_path: its parents are private to root, and the server may run as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="openllm-bot-pg-"))
    try:
        if as_user is not None:
            entry = pwd.getpwnam(as_user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        data = root / "data"
        try:
            _run([str(initdb), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "--no-sync"], as_user, root, START_SECONDS)
        except subprocess.CalledProcessError as error:
            raise Unavailable(f"{initdb} failed (exit {error.returncode}): {_why(error)}") from None
        except subprocess.TimeoutExpired as error:
            raise Unavailable(f"{initdb} did not finish in {START_SECONDS}s: {_why(error)}") from None
        settings = {**SETTINGS, "unix_socket_directories": f"'{root}'"}
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# tests/postgres.py\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        log = root / "server.log"
        reason = "not tried"
        for _ in range(attempts):
            port = _free_port()
            try:
                _run([str(pg_ctl), "-D", str(data), "-l", str(log), "-o", f"-p {port}", "-w",
                      "-t", str(START_SECONDS), "start"], as_user, root, START_SECONDS + 10)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
                reason = _why(error, log)
                _kill_postmaster(data)
                if "already in use" in reason:  # someone took the port in between: try another
                    continue
                break
            url = URL.create("postgresql+psycopg", username=SUPERUSER, host="127.0.0.1", port=port,
                             database="postgres")
            server = Server(admin_url=url, data_dir=root, pg_ctl=pg_ctl, as_user=as_user)
            try:
                server._connect().close()
            except psycopg.Error as error:
                server.stop()
                raise Unavailable(f"PostgreSQL started on port {port} but refused a connection: {error}") from None
            return server
        raise Unavailable(f"{pg_ctl} could not start PostgreSQL: {reason}")
    except BaseException:
        if root.exists():
            _kill_postmaster(root / "data")
            shutil.rmtree(root, ignore_errors=True)
        raise


def external_server(url: str) -> Server:
    """A server run by someone else (TEST_DATABASE_URL); databases are made on it, it is never stopped."""
    try:
        parsed = make_url(url)
    except Exception as error:
        raise Unavailable(f"TEST_DATABASE_URL is not a database URL: {error}") from None
    if not parsed.drivername.startswith("postgresql"):
        raise Unavailable(f"TEST_DATABASE_URL is not a PostgreSQL URL ({parsed.drivername})")
    server = Server(admin_url=parsed.set(drivername="postgresql+psycopg"))
    try:
        server._connect().close()
    except psycopg.Error as error:
        shown = parsed.render_as_string(hide_password=True)
        raise Unavailable(f"TEST_DATABASE_URL ({shown}) could not be reached: {error}") from None
    return server
