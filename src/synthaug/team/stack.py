"""A local team stack on loopback: PostgreSQL, an S3 endpoint (moto's server) and an MLflow server.

For trying the team setup on one machine, and for the tests: the same services a team runs, as
real processes, under .team/ in the project. `up` starts them (ports chosen free unless given),
creates the bucket and the databases, waits until each answers and writes team.env, which points
synthaug, MLflow, DVC and boto3 at them; `down` stops them. The MLflow server keeps runs in
PostgreSQL and proxies artifacts to s3://BUCKET/mlartifacts, so clients need no S3 credentials
for MLflow; DVC and `synthaug import` talk to the S3 endpoint directly.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from synthaug.errors import SynthaugError
from synthaug.io import write_text_atomic
from synthaug.team.settings import TEAM_ENV, write_env_file

STACK_DIR = ".team"
BUCKET = "synthaug"
USER = "synthaug"
DATABASES = ("mlflow", "optuna")
# moto accepts any key; the local stack's secret is drawn anew by each `up` and kept in team.env only.
LOCAL_ACCESS_KEY, LOCAL_REGION = "synthaug-local", "us-east-1"
START_TIMEOUT_S = 120


@dataclass
class Stack:
    root: str
    postgres_port: int
    s3_port: int
    mlflow_port: int
    postgres_dir: str = ""
    secret_key: str = ""
    s3_pid: int | None = None
    mlflow_pid: int | None = None

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def database_url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.postgres_port}/{database}"

    def env(self) -> dict[str, str]:
        """What team.env says for this stack."""
        return {
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{self.mlflow_port}",
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_ENDPOINT_URL_S3": self.s3_endpoint,
            "MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint,
            "SYNTHAUG_DVC_REMOTE": f"s3://{BUCKET}/dvc",
            "SYNTHAUG_TUNE_STORAGE": self.database_url("optuna"),
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def state_file(project_root: Path) -> Path:
    return Path(project_root) / STACK_DIR / "stack.json"


def load(project_root: Path) -> Stack | None:
    path = state_file(project_root)
    return Stack(**json.loads(path.read_text())) if path.is_file() else None


# ---- PostgreSQL ----------------------------------------------------------------------------------------


def postgres_dir(project_root: Path) -> Path:
    """Where the cluster lives: .team/postgres, or, as root (the server then runs as the postgres
    account, which may not be able to enter the project), a folder of its own in the temp dir."""
    if os.geteuid() != 0:
        return Path(project_root) / STACK_DIR / "postgres"
    import hashlib
    import tempfile

    digest = hashlib.sha1(str(Path(project_root).resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"synthaug-team-postgres-{digest}"


def postgres_bin() -> Path:
    found = shutil.which("initdb")
    candidates = [Path(found).parent] if found else sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not candidates or not (candidates[-1] / "pg_ctl").exists():
        raise SynthaugError(
            "PostgreSQL server programs (initdb, pg_ctl) not found; install PostgreSQL "
            "(e.g. apt install postgresql) or point the team at an existing server"
        )
    return candidates[-1]


def _as_server_user(folder: Path) -> list[str]:
    """initdb refuses to run as root: then the cluster belongs to the postgres (or nobody) account."""
    if os.geteuid() != 0:
        return []
    import pwd

    account = "postgres"
    try:
        pwd.getpwnam(account)
    except KeyError:
        account = "nobody"
    shutil.chown(folder, user=account)
    return ["runuser", "-u", account, "--"]


def start_postgres(folder: Path, port: int, databases: tuple[str, ...] = ()) -> None:
    """A PostgreSQL cluster in FOLDER (created on first use) on 127.0.0.1:PORT, user synthaug with
    trust authentication (loopback only), with `databases` created if missing."""
    bin_dir = postgres_bin()
    folder.mkdir(parents=True, exist_ok=True)
    prefix = _as_server_user(folder)
    data = folder / "data"
    if not data.exists():
        _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "--no-sync", "-E", "UTF8"])
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder}"
    _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-o", options, "start"])
    import psycopg

    with psycopg.connect(f"postgresql://{USER}@127.0.0.1:{port}/postgres", autocommit=True) as connection:
        existing = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
        for name in databases:
            if name not in existing:
                connection.execute(f'CREATE DATABASE "{name}"')


def stop_postgres(folder: Path) -> None:
    data = folder / "data"
    if data.exists():
        prefix = ["runuser", "-u", data.owner(), "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, str(postgres_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True
        )


# ---- S3 (moto) and MLflow ---------------------------------------------------------------------------------


def start_s3(folder: Path, port: int) -> int:
    """moto's S3 server on 127.0.0.1:PORT (in memory: a restart empties it); returns its pid."""
    process = _spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], folder / "s3.log")
    _wait_http(f"http://127.0.0.1:{port}/moto-api/", "the S3 endpoint (moto)", process, folder / "s3.log")
    return process.pid


def create_bucket(endpoint: str, bucket: str, secret_key: str) -> None:
    from synthaug.team.s3 import client

    s3 = client(endpoint_url=endpoint, access_key=LOCAL_ACCESS_KEY, secret_key=secret_key, region=LOCAL_REGION)
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)


def start_mlflow(folder: Path, port: int, backend_store: str, artifacts: str, s3_endpoint: str, secret_key: str) -> int:
    """`mlflow server` with runs in BACKEND_STORE and artifacts proxied to ARTIFACTS; returns its pid."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    mlflow_bin = shutil.which("mlflow", path=env["PATH"]) or "mlflow"
    command = [
        mlflow_bin,
        "server",
        "--backend-store-uri",
        backend_store,
        "--artifacts-destination",
        artifacts,
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    process = _spawn(command, folder / "mlflow.log", env=env)
    _wait_http(f"http://127.0.0.1:{port}/health", "the MLflow server", process, folder / "mlflow.log")
    return process.pid


# ---- the whole stack ----------------------------------------------------------------------------------


def up(
    project_root: Path, *, postgres_port: int | None = None, s3_port: int | None = None, mlflow_port: int | None = None, log=print
) -> Stack:
    """Start the stack (or report the one running) and write team.env; see the module docstring."""
    project_root = Path(project_root).resolve()
    running = load(project_root)
    if running is not None and _alive(running.mlflow_pid) and _alive(running.s3_pid):
        log(f"team stack already running: MLflow {running.env()['MLFLOW_TRACKING_URI']}, S3 {running.s3_endpoint}")
        return running
    folder = project_root / STACK_DIR
    folder.mkdir(exist_ok=True)
    stack = Stack(
        str(project_root),
        postgres_port or free_port(),
        s3_port or free_port(),
        mlflow_port or free_port(),
        postgres_dir=str(postgres_dir(project_root)),
        secret_key=secrets.token_hex(16),
    )
    try:
        log(f"team stack: PostgreSQL on 127.0.0.1:{stack.postgres_port} ({stack.postgres_dir})")
        start_postgres(Path(stack.postgres_dir), stack.postgres_port, DATABASES)
        log(f"team stack: S3 endpoint (moto) on {stack.s3_endpoint}, bucket {BUCKET}")
        stack.s3_pid = start_s3(folder, stack.s3_port)
        create_bucket(stack.s3_endpoint, BUCKET, stack.secret_key)
        log(
            f"team stack: MLflow server on http://127.0.0.1:{stack.mlflow_port} (runs in PostgreSQL, artifacts in s3://{BUCKET}/mlartifacts)"
        )
        stack.mlflow_pid = start_mlflow(
            folder,
            stack.mlflow_port,
            stack.database_url("mlflow"),
            f"s3://{BUCKET}/mlartifacts",
            stack.s3_endpoint,
            stack.secret_key,
        )
    except BaseException:
        down(project_root, stack=stack, log=lambda _: None)
        raise
    write_text_atomic(state_file(project_root), json.dumps(asdict(stack)))
    state_file(project_root).chmod(0o600)  # it holds the local secret too
    write_env_file(
        project_root / TEAM_ENV,
        stack.env(),
        f"The local team stack (synthaug team up); `synthaug team down` stops it.\n"
        f"Logs: {folder}/*.log. Local credentials only, drawn for this stack: moto accepts any key.",
    )
    log(f"team stack: up; {TEAM_ENV} points synthaug, MLflow, DVC and boto3 at it")
    return stack


def down(project_root: Path, *, stack: Stack | None = None, log=print) -> None:
    """Stop the stack and delete its PostgreSQL data: moto's S3 is in memory, so the runs' artifacts
    are gone with it, and runs without their artifacts would only mislead."""
    project_root = Path(project_root).resolve()
    stack = stack or load(project_root)
    if stack is None:
        log("team stack: not running")
        return
    for pid in (stack.mlflow_pid, stack.s3_pid):
        if pid and _alive(pid):
            os.killpg(pid, signal.SIGTERM)
            _wait_gone(pid)
    cluster = Path(stack.postgres_dir or postgres_dir(project_root))
    stop_postgres(cluster)
    shutil.rmtree(cluster, ignore_errors=True)
    state_file(project_root).unlink(missing_ok=True)
    env_file = project_root / TEAM_ENV
    if env_file.is_file() and "synthaug team up" in env_file.read_text():
        env_file.unlink()  # it pointed at this stack only
    log("team stack: stopped, its data deleted")


def _spawn(command: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    log_file = open(log_path, "ab")  # noqa: SIM115 - the child keeps it open
    return subprocess.Popen(
        command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
    )


def _wait_http(url: str, what: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SynthaugError(f"{what} exited with status {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SynthaugError(f"{what} did not answer {url} within {START_TIMEOUT_S} s; see {log_path}")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pid: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SynthaugError(f"{' '.join(command)} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}")
