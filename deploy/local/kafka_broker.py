"""A real single-node Apache Kafka broker (KRaft, broker+controller) for tests and local runs.

The broker jars come from Maven Central through Maven (``org.apache.kafka:kafka_2.13`` plus the
log4j2 SLF4J binding that the binary distribution ships but the POM leaves out) into a cache
outside git, and run on the machine's Java 17. No Docker.

    python deploy/local/kafka_broker.py fetch              # download the jars into the cache
    python deploy/local/kafka_broker.py run [--port 9092]  # run a broker in the foreground until Ctrl-C

Tests use :class:`KafkaBroker` directly (see ``tests/conftest.py``), with
:class:`SecureListeners` for SSL and SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) beside
PLAINTEXT, so the bridge's security settings are tested against a real broker.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

# The one place the Kafka version lives. log4j2 is the version Kafka 4.4.0's own POM resolves
# (kafka-server -> log4j-core 2.25.5); the SLF4J 1.x binding must match it.
KAFKA_VERSION = "4.4.0"
LOG4J_VERSION = "2.25.5"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "signalr-bridge"
JARS_DIR = CACHE_ROOT / f"kafka-{KAFKA_VERSION}"
# Every broker's work dir lives here, so a run can find and reap what an interrupted run left.
RUNS_DIR = CACHE_ROOT / "kafka-runs"

_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.signalr-bridge</groupId><artifactId>kafka-broker-libs</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.org.name = org.apache.kafka
logger.org.level = WARN
"""

_JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]


class KafkaLauncherError(RuntimeError):
    """The broker could not be fetched, formatted or started."""


@dataclass(frozen=True)
class SecureListeners:
    """An SSL and a SASL_SSL listener beside PLAINTEXT (which stays for inter-broker traffic).

    ``keystore`` is one PEM file: the broker's PKCS#8 private key (unencrypted), then its
    certificate chain. SASL_SSL offers PLAIN (``plain_users``, kept in the JAAS config) and
    SCRAM-SHA-256/512 (``scram_users``, written into the metadata log when the storage is
    formatted, as KRaft wants). No client certificates are asked for.
    """

    keystore: Path
    plain_users: Mapping[str, str] = field(default_factory=dict)
    scram_users: Mapping[str, str] = field(default_factory=dict)

    def server_properties(self) -> dict[str, str]:
        plain = " ".join(
            f"user_{name}={_jaas_quote(password)}" for name, password in self.plain_users.items()
        )
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.client.auth": "none",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain};"
            ),
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
        }

    def format_arguments(self) -> list[str]:
        """``kafka-storage format`` arguments that create the SCRAM users."""
        for name, password in self.scram_users.items():
            if not all(c.isalnum() or c in "-_." for c in name + password):
                raise KafkaLauncherError(f"SCRAM user {name!r}: use letters, digits, '-', '_', '.' only")
        return [
            argument
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512")
            for name, password in self.scram_users.items()
            for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]


def _jaas_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ensure_jars(*, quiet: bool = True) -> Path:
    """Download the broker jars once; later calls return the cached directory at once."""
    libs = JARS_DIR / "libs"
    marker = JARS_DIR / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise KafkaLauncherError("Maven (mvn) is required to fetch the Kafka jars; install it first")
    JARS_DIR.mkdir(parents=True, exist_ok=True)
    (JARS_DIR / "pom.xml").write_text(_POM)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=JARS_DIR))
    command = [
        "mvn",
        "-B",
        *(["-q"] if quiet else []),
        "-f",
        str(JARS_DIR / "pom.xml"),
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise KafkaLauncherError(f"mvn failed fetching Kafka {KAFKA_VERSION}:\n{result.stdout[-4000:]}")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)  # atomic: a half-downloaded libs dir is never marked complete
    marker.write_text(KAFKA_VERSION)
    return libs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cluster_id() -> str:
    # Kafka's Uuid.toString: URL-safe base64 of 16 bytes, unpadded, never starting with "-".
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _die_with_parent() -> None:
    # Linux: the broker gets SIGKILL when the process that started it dies, even by SIGKILL,
    # so an interrupted test run never leaves a broker holding ports or files.
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale_runs() -> None:
    """Kill brokers whose owner is gone and delete their work dirs (left by a killed run)."""
    if not RUNS_DIR.exists():
        return
    for run in RUNS_DIR.iterdir():
        owner = run / "owner.pid"
        broker = run / "broker.pid"
        try:
            owner_pid = int(owner.read_text())
        except (OSError, ValueError):
            owner_pid = 0
        if owner_pid and _pid_alive(owner_pid):
            continue
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            os.kill(int(broker.read_text()), signal.SIGKILL)
        shutil.rmtree(run, ignore_errors=True)


class KafkaBroker:
    """One KRaft broker+controller on 127.0.0.1; ``start`` returns once it serves metadata."""

    def __init__(
        self,
        *,
        port: int = 0,
        partitions: int = 1,
        heap: str = "768m",
        secure: SecureListeners | None = None,
    ) -> None:
        self._requested_port = port
        self._partitions = partitions
        self._heap = heap
        self._secure = secure
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self.port = 0
        self.ssl_port = 0
        self.sasl_ssl_port = 0
        self.startup_seconds = 0.0

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ssl_bootstrap_servers(self) -> str:
        assert self.ssl_port, "started without SecureListeners"
        return f"127.0.0.1:{self.ssl_port}"

    @property
    def sasl_ssl_bootstrap_servers(self) -> str:
        assert self.sasl_ssl_port, "started without SecureListeners"
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def log_file(self) -> Path:
        assert self._workdir is not None
        return self._workdir / "logs" / "server.log"

    def start(self, timeout: float = 120.0) -> KafkaBroker:
        if self._process is not None:
            return self
        began = time.monotonic()
        libs = ensure_jars()
        java = shutil.which("java")
        if java is None:
            raise KafkaLauncherError("java (17+) is required to run the Kafka broker")
        classpath = f"{libs}/*"
        if self._workdir is not None:  # a restart after stop(keep_data=True): same port, same data
            self._launch(java, classpath, began, timeout)
            return self
        reap_stale_runs()
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        self._workdir = Path(tempfile.mkdtemp(prefix="broker-", dir=RUNS_DIR))
        (self._workdir / "owner.pid").write_text(str(os.getpid()))
        self.port = self._requested_port or free_port()
        if self._secure is not None:
            self.ssl_port, self.sasl_ssl_port = free_port(), free_port()
        controller_port = free_port()
        properties = self._workdir / "server.properties"
        properties.write_text(self._server_properties(controller_port))
        log4j = self._workdir / "log4j2.properties"
        log4j.write_text(_LOG4J2)
        (self._workdir / "logs").mkdir()
        fmt = subprocess.run(
            [
                java,
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                *self._logging_flags(),
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                _cluster_id(),
                "-c",
                str(properties),
                *(self._secure.format_arguments() if self._secure else []),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise KafkaLauncherError(f"formatting Kafka storage failed:\n{fmt.stdout}\n{fmt.stderr}")
        self._launch(java, classpath, began, timeout)
        return self

    def _logging_flags(self) -> list[str]:
        assert self._workdir is not None
        return [
            f"-Dkafka.logs.dir={self._workdir / 'logs'}",
            f"-Dlog4j2.configurationFile={self._workdir / 'log4j2.properties'}",
        ]

    def _launch(self, java: str, classpath: str, began: float, timeout: float) -> None:
        assert self._workdir is not None
        properties = self._workdir / "server.properties"
        out = (self._workdir / "logs" / "stdout.log").open("ab")
        self._process = subprocess.Popen(
            [
                java,
                f"-Xms{self._heap}",
                f"-Xmx{self._heap}",
                *_JVM_FLAGS,
                *self._logging_flags(),
                "-cp",
                classpath,
                "kafka.Kafka",
                str(properties),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only sets the death signal, no locks taken
            # Its own session: a Ctrl-C in the terminal reaches the owner, which stops the broker last.
            start_new_session=True,
        )
        out.close()
        (self._workdir / "broker.pid").write_text(str(self._process.pid))
        try:
            self._wait_ready(began + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _server_properties(self, controller_port: int) -> str:
        assert self._workdir is not None
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": ",".join([*self._listeners(), f"CONTROLLER://127.0.0.1:{controller_port}"]),
            "advertised.listeners": ",".join(self._listeners()),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": (
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL"
            ),
            "log.dirs": str(self._workdir / "data"),
            "auto.create.topics.enable": "true",
            "num.partitions": str(self._partitions),
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # A test that restarts a consumer must not wait 3 s per rebalance.
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "log.flush.interval.ms": "1000",
            **(self._secure.server_properties() if self._secure else {}),
        }
        return "".join(f"{key}={_properties_escape(value)}\n" for key, value in settings.items())

    def _listeners(self) -> list[str]:
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        if self._secure is not None:
            listeners += [f"SSL://127.0.0.1:{self.ssl_port}", f"SASL_SSL://127.0.0.1:{self.sasl_ssl_port}"]
        return listeners

    def _wait_ready(self, deadline: float) -> None:
        # The data-plane listener only opens once the broker is unfenced; then ask for metadata,
        # which proves the broker really serves (an open port alone does not).
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise KafkaLauncherError(
                    f"Kafka exited with code {self._process.returncode} during start-up:\n{self._log_tail()}"
                )
            if _serves_metadata(self.port):
                return
            time.sleep(0.2)
        raise KafkaLauncherError(f"Kafka did not serve metadata in time:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 40) -> str:
        for path in (self.log_file, self.log_file.with_name("stdout.log")):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()
                if text:
                    return "\n".join(text[-lines:])
        return "(no broker log)"

    def stop(self, timeout: float = 30.0, *, keep_data: bool = False) -> None:
        """Stop the broker (SIGTERM, SIGKILL after ``timeout``) and delete its data. Idempotent.

        ``keep_data=True`` keeps the data and the port: ``start`` then brings the same broker back
        (an outage in a test)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._workdir is not None and not keep_data:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _properties_escape(value: str) -> str:
    # java.util.Properties reads backslash escapes in values; the rest of a line is the value.
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _serves_metadata(port: int, timeout: float = 5.0) -> bool:
    """Ask the broker for cluster metadata with aiokafka's admin client; True once it lists itself.

    One short ``asyncio.run`` per attempt, in the calling thread: no event loop outlives an
    attempt, and a Ctrl-C during start-up interrupts the attempt at once (asyncio.run turns
    SIGINT into KeyboardInterrupt) instead of being swallowed by a loop left running.
    """
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415 - `fetch` needs no Kafka client
    from aiokafka.errors import KafkaError  # noqa: PLC0415

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=f"127.0.0.1:{port}",
            client_id="signalr-bridge-launcher",
            request_timeout_ms=int(timeout * 1000),
        )
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
        finally:
            await admin.close()
        return bool(cluster.get("brokers"))

    async def bounded() -> bool:
        async with asyncio.timeout(timeout):
            return await probe()

    try:
        # The listener opens only once the broker is unfenced; until then a plain connect fails
        # fast, with no client to start and no "Unable connect" log line per attempt.
        socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
        return asyncio.run(bounded())
    except (KafkaError, OSError, TimeoutError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"Local Apache Kafka {KAFKA_VERSION} (KRaft), Maven jars")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download the broker jars into the cache")
    run = sub.add_parser("run", help="run a broker in the foreground until interrupted")
    run.add_argument("--port", type=int, default=9092)
    run.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "fetch":
        print(ensure_jars(quiet=False))
        return 0
    stop = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with KafkaBroker(port=args.port, partitions=args.partitions) as broker:
        ready = f"Kafka {KAFKA_VERSION} ready on {broker.bootstrap_servers} in {broker.startup_seconds:.1f}s"
        print(ready, flush=True)
        while not stop and broker._process is not None and broker._process.poll() is None:
            time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
