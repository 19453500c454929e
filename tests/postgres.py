"""A throwaway PostgreSQL cluster for tests, shaped like a Lakebase instance.

`PostgresCluster().start()` (or `with PostgresCluster() as cluster:`) runs `initdb` and a
server in a fresh temporary directory, as the `postgres` user when we are root (PostgreSQL
refuses to run as root), and stops it and removes the directory on `stop()`.

databricks-ai-bridge's Lakebase pools always connect to port 5432 of the instance's
`read_write_dns` with `sslmode=require` and `dbname=databricks_postgres`, so the server listens
on port 5432 of a random loopback address `127.0.0.N` (Linux routes all of 127.0.0.0/8 to the
loopback interface) with a self-signed certificate, and has that database. Authentication:

- the `postgres` superuser: trusted over TCP, with or without SSL (`superuser_url`);
- every other role: password (SCRAM) over SSL only, like Lakebase's OAuth-token passwords.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

PORT = 5432
LAKEBASE_DATABASE = "databricks_postgres"
SUPERUSER = "postgres"
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
START_TIMEOUT_SECONDS = 30
LOG_TAIL_LINES = 30

SETTINGS = """
listen_addresses = '{host}'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 100
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
fsync = off
synchronous_commit = off
full_page_writes = off
"""
HBA = """\
local   all  all                    trust
host    all  postgres  127.0.0.0/8  trust
hostssl all  all       127.0.0.0/8  scram-sha-256
host    all  all       127.0.0.0/8  reject
"""


def find_binaries() -> Path:
    """The directory holding `initdb` and `pg_ctl`: from PATH, else Debian's newest
    `/usr/lib/postgresql/<version>/bin` (the Debian package does not put them on PATH)."""
    on_path = shutil.which("pg_ctl")
    debian = sorted(
        DEBIAN_BINARIES.glob("*/bin"),
        key=lambda bindir: int(bindir.parent.name) if bindir.parent.name.isdigit() else -1,
        reverse=True,
    )
    for bindir in ([Path(on_path).resolve().parent] if on_path else []) + debian:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH nor in "
        f"{DEBIAN_BINARIES}/<version>/bin: install them with "
        "`apt-get update && apt-get install -y postgresql`."
    )


def free_loopback_host(attempts: int = 20) -> str:
    """A random `127.0.0.N` (N in 2..254) on which port 5432 can be bound right now."""
    for n in random.sample(range(2, 255), attempts):
        host = f"127.0.0.{n}"
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            try:
                probe.bind((host, PORT))
            except OSError:
                continue
        return host
    raise RuntimeError(f"Port {PORT} is taken on every loopback address tried (0.0.0.0:{PORT}?).")


def _server_user() -> list[str]:
    """The command prefix that runs the server's tools: as `postgres` when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise RuntimeError(
            "PostgreSQL refuses to run as root and there is no `postgres` user: "
            "`apt-get install -y postgresql` creates it."
        ) from None
    return ["runuser", "-u", SUPERUSER, "--"]


def _log_tail(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "(no server log)"
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _shutdown(prefix: list[str], pg_ctl: Path, directory: Path) -> None:
    """Stop the server of `directory` if it runs (fast, else immediate), then remove it."""
    data = directory / "data"
    for mode in ("fast", "immediate"):
        if not (data / "postmaster.pid").exists():
            break
        command = [*prefix, str(pg_ctl), "-D", str(data), "-m", mode, "-w", "stop"]
        subprocess.run(command, cwd=directory, capture_output=True, check=False)
    shutil.rmtree(directory, ignore_errors=True)


class PostgresCluster:
    """One throwaway PostgreSQL server on `127.0.0.N:5432`; see the module docstring."""

    def __init__(self) -> None:
        self._host: str | None = None
        self._directory: Path | None = None
        self._stop: weakref.finalize | None = None

    @property
    def host(self) -> str:
        """The loopback address the server listens on (the emulator's `database_host`)."""
        if self._host is None:
            raise RuntimeError("The PostgreSQL cluster is not started.")
        return self._host

    @property
    def port(self) -> int:
        """Always 5432: databricks-ai-bridge's Lakebase pools cannot connect elsewhere."""
        return PORT

    @property
    def directory(self) -> Path:
        """The cluster's temporary directory: `data/`, the socket and `postgres.log`."""
        if self._directory is None:
            raise RuntimeError("The PostgreSQL cluster is not started.")
        return self._directory

    @property
    def lakebase_database(self) -> str:
        """The database Lakebase pools connect to."""
        return LAKEBASE_DATABASE

    @property
    def superuser_url(self) -> str:
        """The `postgres` superuser's URL for the `postgres` database (no password)."""
        return self.url()

    def url(self, dbname: str = "postgres") -> str:
        """The `postgres` superuser's URL for `dbname`."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def new_database(self, prefix: str) -> str:
        """The URL of a fresh, empty database named `<prefix>_<random>`, created now."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.superuser_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self) -> PostgresCluster:
        """Create the cluster, start the server, create `databricks_postgres`; returns self."""
        if self._stop is not None:
            raise RuntimeError("A PostgresCluster can be started only once.")
        bindir = find_binaries()
        prefix = _server_user()
        self._host = free_loopback_host()
        self._directory = directory = Path(tempfile.mkdtemp(prefix="signoff-postgres-"))
        # Stops the server and removes the directory on stop() or, failing that, at exit.
        self._stop = weakref.finalize(self, _shutdown, prefix, bindir / "pg_ctl", directory)
        try:
            if prefix:
                owner = pwd.getpwnam(SUPERUSER)
                os.chown(directory, owner.pw_uid, owner.pw_gid)
            self._create(prefix, bindir)
            with psycopg.connect(self.superuser_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(LAKEBASE_DATABASE))
                )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and remove its directory; does nothing when already stopped."""
        if self._stop is not None:
            self._stop()

    def add_login_role(self, name: str, password: str) -> None:
        """Make `name` a login role with `password` (creating it if needed) that can connect
        to `databricks_postgres` and create tables there, as a checkpointer's setup does."""
        role = sql.Identifier(name)
        with psycopg.connect(self.superuser_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone()
            verb = sql.SQL("ALTER" if exists else "CREATE")
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, role, sql.Literal(password))
            )
            conn.execute(
                sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(
                    sql.Identifier(LAKEBASE_DATABASE), role
                )
            )
        # Since PostgreSQL 15 only the database owner may create in schema public by default.
        with psycopg.connect(self.url(LAKEBASE_DATABASE), autocommit=True) as conn:
            conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(role))

    def set_password(self, name: str, password: str) -> None:
        """Replace role `name`'s password (a credential rotation); open sessions stay open."""
        with psycopg.connect(self.superuser_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )

    def terminate_connections(self, name: str) -> int:
        """Terminate every session of role `name` (waiting until they are gone); returns how
        many were terminated."""
        with psycopg.connect(self.superuser_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = %s",
                [name],
            ).fetchall()
        return sum(terminated for (terminated,) in rows)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _create(self, prefix: list[str], bindir: Path) -> None:
        """initdb, certificate, configuration, then start the server and wait for it."""
        directory = self.directory
        data, log_file = directory / "data", directory / "postgres.log"

        def run(command: Sequence[str | Path], what: str) -> None:
            done = subprocess.run(
                [*prefix, *map(str, command)], cwd=directory, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}\n"
                    f"server log:\n{_log_tail(log_file)}"
                )

        initdb = [bindir / "initdb", "-D", data, "-U", SUPERUSER, "--auth=trust"]
        run([*initdb, "-E", "UTF8", "--no-locale", "--no-sync"], "initdb")
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("openssl is needed for the server certificate: install openssl.")
        certificate = ["-x509", "-nodes", "-days", "7", "-subj", f"/CN={self.host}"]
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        files = ["-keyout", data / "server.key", "-out", data / "server.crt"]
        run([openssl, "req", *certificate, *key, *files], "openssl req")
        (data / "server.key").chmod(0o600)  # the server refuses a key others can read
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(SETTINGS.format(host=self.host, port=PORT, socket_dir=directory))
        (data / "pg_hba.conf").write_text(HBA)
        pg_ctl = [bindir / "pg_ctl", "-D", data, "-l", log_file, "-t", START_TIMEOUT_SECONDS]
        run([*pg_ctl, "-w", "start"], f"Starting PostgreSQL on {self.host}:{PORT}")
