"""Fixtures of the image suite: the habitat, the image (built once per session), PostgreSQL, a container
factory with finalizers, a DNS server on loopback. Habitat parameters come from scripts/lib/habitat.sh
through scripts/e2e.sh; provisioning (scripts/provision.sh image-test) prepared the engine and bases."""
from __future__ import annotations

import os
import random
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest

from engine import Engine, out_dir
from habitat import MEASURED, ROOT, require, run
from imagelib import TAG, Containers, pinned_images


@dataclass
class Habitat:
    engine: Engine
    base_images: str  # pull | standin


@pytest.fixture(scope="session")
def habitat() -> Habitat:
    name = os.environ.get("CONTAINER_ENGINE", "")
    require("image-test", env=["CONTAINER_ENGINE", "BASE_IMAGES"], root=True)
    require("image-test", tools=[name, "nsenter", "curl", "ip", "psql", "syft", "docker-compose"])
    engine = Engine(name, os.path.join(os.environ["SHIPSHAPE_CACHE"], "image-test"))
    bases = os.environ["BASE_IMAGES"]
    for image in pinned_images():
        if engine("image", "inspect", image, check=False).returncode != 0:
            pytest.exit(f"habitat lacks the base image {image}: run scripts/provision.sh image-test", returncode=4)
    engine.remove_leftovers()
    print(f"habitat: {name} {engine.version()}, base images: {bases}")
    return Habitat(engine, bases)


@pytest.fixture(scope="session")
def engine(habitat) -> Engine:
    return habitat.engine


@dataclass
class Image:
    tag: str
    args: dict
    build_log: str
    runtime_base: str
    info: dict = field(default_factory=dict)


@pytest.fixture(scope="session")
def build_args() -> dict:
    lines = run([ROOT / "scripts" / "lib" / "image-args.sh"]).stdout.splitlines()
    args = dict(line.split("=", 1) for line in lines)
    args["SHIPSHAPE_SOURCE"] = args["SHIPSHAPE_SOURCE"] or "local"
    return args


@pytest.fixture(scope="session")
def image(engine, build_args, habitat) -> Image:
    log = os.path.join(out_dir(), "build.log")
    t0 = time.monotonic()
    engine.build(TAG, build_args, log)
    steps = sum(1 for line in open(log) if "STEP " in line or line.startswith("#"))
    MEASURED.append(f"build: {time.monotonic() - t0:.1f} s with {habitat.engine.name}, base images "
                    f"{habitat.base_images} (log: {log}; {steps} build lines)")
    runtime = next(n for n in pinned_images() if "/distroless/" in n)
    return Image(TAG, build_args, log, runtime, engine.inspect(TAG))


@pytest.fixture
def containers(engine, request, diagnose):
    factory = Containers(engine, f"shipshape-e2e-{os.getpid()}-{request.node.name[:40].replace('[', '-').rstrip(']')}")
    diagnose("container logs", factory.logs)
    yield factory
    factory.close()


# -------------------------------------------------------------------------------------- PostgreSQL
@dataclass
class Postgres:
    url: str  # sslmode=verify-full with the test CA
    ca: str
    host_port: tuple

    def with_host(self, host: str, sslmode: str, ca: str | None = None) -> str:
        u = urllib.parse.urlsplit(self.url)
        netloc = u.netloc.rsplit("@", 1)
        hostport = f"{host}:{u.port or 5432}"
        netloc = f"{netloc[0]}@{hostport}" if len(netloc) == 2 else hostport
        q = urllib.parse.urlencode({"sslmode": sslmode, "sslrootcert": ca or self.ca})
        return urllib.parse.urlunsplit((u.scheme, netloc, u.path, q, ""))


@pytest.fixture(scope="session")
def postgres() -> Postgres:
    """The TLS PostgreSQL of scripts/pg-start.sh (a caller such as .ci/run may have started it)."""
    url, ca = os.environ.get("TEST_DATABASE_URL"), os.environ.get("TEST_DATABASE_CA")
    if not url:
        out = run([ROOT / "scripts" / "pg-start.sh"], timeout=300).stdout
        env = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("TEST_DATABASE_"))
        url, ca = env.get("TEST_DATABASE_URL"), env.get("TEST_DATABASE_CA")
    assert url and ca, "scripts/pg-start.sh printed no TEST_DATABASE_URL / TEST_DATABASE_CA"
    u = urllib.parse.urlsplit(url)
    pg = Postgres(url, ca, (u.hostname, u.port or 5432))
    pg.url = pg.with_host(u.hostname, "verify-full")
    return pg


# ----------------------------------------------------------------------------- DNS on loopback
class DnsServer(threading.Thread):
    """A minimal authoritative DNS server: A records for *.shipshape.test -> 127.0.0.1, NXDOMAIN for the
    rest. It listens on a random 127/8 address, port 53 (resolv.conf has no port), and counts queries."""

    ZONE = ".shipshape.test"

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(20):
            self.address = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.53"
            try:
                self.sock.bind((self.address, 53))
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free loopback address for the test DNS server")
        self.sock.settimeout(0.2)
        self.queries: list[str] = []
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            try:
                self.sock.sendto(self.answer(data), peer)
            except Exception:
                continue

    def answer(self, q: bytes) -> bytes:
        qid, flags = struct.unpack("!HH", q[:4])
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1 : i + 1 + q[i]].decode().lower())
            i += q[i] + 1
        question = q[12 : i + 5]
        qtype = struct.unpack("!H", q[i + 1 : i + 3])[0]
        name = ".".join(labels)
        self.queries.append(f"{name}/{qtype}")
        rd = flags & 0x0100
        if not ("." + name).endswith(self.ZONE):
            return struct.pack("!HHHHHH", qid, 0x8403 | rd, 1, 0, 0, 0) + question  # NXDOMAIN
        if qtype != 1:  # no AAAA etc.: an empty answer, so the resolver uses the A record
            return struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, 0, 0, 0) + question
        rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4) + socket.inet_aton("127.0.0.1")
        return struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, 1, 0, 0) + question + rr


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory):
    server = DnsServer()
    server.start()
    server.resolv_conf = tmp_path_factory.mktemp("dns") / "resolv.conf"
    server.resolv_conf.write_text(f"nameserver {server.address}\noptions timeout:2 attempts:2\n")
    yield server
    server.stopped.set()
    server.join(2)
    server.sock.close()


