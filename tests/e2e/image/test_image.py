"""The built image, inspected: configuration, labels, reproducibility inputs, contents, the static and
auditable binary, size budgets, the archive and its SBOM."""
import json
import os
import re
import struct
import subprocess
import tarfile
import time
import urllib.request
from datetime import datetime, timezone

import pytest

from engine import out_dir
from habitat import free_port, run

IMAGE_BUDGET_MB = 25.0
BINARY_BUDGET_MB = 15.0
RSS_BUDGET_MB = 30.0
SHELLS = {"sh", "bash", "dash", "ash", "busybox", "zsh"}


def test_config_as_documented(image):
    cfg = image.info["Config"]
    assert cfg.get("User") == "65532:65532"
    assert "8000/tcp" in (cfg.get("ExposedPorts") or {})
    assert "/data" in (cfg.get("Volumes") or {})
    assert "DATABASE_URL=sqlite:///data/shipshape.db" in cfg.get("Env", [])
    assert cfg.get("Entrypoint") == ["/usr/local/bin/shipshape"] and cfg.get("Cmd") == ["serve"]
    hc = cfg.get("Healthcheck") or image.info.get("Healthcheck") or {}
    assert hc.get("Test") == ["CMD", "/usr/local/bin/shipshape", "healthcheck"], hc


def test_labels_come_from_the_commit(image):
    labels = image.info["Config"].get("Labels") or {}
    a = image.args
    assert labels["org.opencontainers.image.revision"] == a["SHIPSHAPE_REVISION"]
    assert labels["org.opencontainers.image.version"] == a["SHIPSHAPE_VERSION"]
    assert labels["org.opencontainers.image.created"] == a["SHIPSHAPE_CREATED"]
    assert labels["org.opencontainers.image.source"] == a["SHIPSHAPE_SOURCE"]
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    created = datetime.fromtimestamp(int(a["SOURCE_DATE_EPOCH"]), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert a["SHIPSHAPE_CREATED"] == created, "created label is not the commit time"


def test_image_time_is_the_commit_time(image):
    """Reproducible: the image's creation time is SOURCE_DATE_EPOCH, not the build's wall clock."""
    epoch = int(image.args["SOURCE_DATE_EPOCH"])
    created = image.info["Created"]
    got = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", created.replace("Z", "+00:00")))
    assert int(got.timestamp()) == epoch, f"image Created {created} != commit time {epoch}"


def test_files_are_not_newer_than_the_commit(image, filesystem):
    epoch = int(image.args["SOURCE_DATE_EPOCH"])
    ours = [m for m in filesystem if m.name.lstrip("./") in ("usr/local/bin/shipshape", "data")]
    assert len(ours) == 2, [m.name for m in ours]
    for m in ours:
        assert m.mtime <= epoch, f"{m.name} has mtime {m.mtime} > SOURCE_DATE_EPOCH {epoch}"


def test_extends_the_runtime_base(engine, image):
    base, layers = engine.layers(image.runtime_base), engine.layers(image.tag)
    assert layers[: len(base)] == base, "the image does not sit on the runtime base (wrong stage?)"
    assert len(layers) - len(base) <= 2, f"{len(layers) - len(base)} layers on top of the base"


@pytest.fixture(scope="module")
def filesystem(engine, image, tmp_path_factory):
    return engine.filesystem(image.tag, tmp_path_factory.mktemp("fs"))


def test_no_shell_and_data_owned_by_the_user(engine, image, filesystem):
    names = {m.name.rsplit("/", 1)[-1] for m in filesystem if m.isfile() or m.issym()}
    assert not names & SHELLS, f"shells in the image: {names & SHELLS}"
    data = next(m for m in filesystem if m.name.strip("./") == "data")
    assert (data.uid, data.gid) == (65532, 65532), f"/data owned by {data.uid}:{data.gid}"
    proc = engine("run", "--rm", "--network", "none", "--pull=never", "--entrypoint", "/bin/sh", image.tag,
                  "-c", "true", check=False)
    assert proc.returncode != 0, "/bin/sh ran inside the image"


def test_no_shared_libraries_at_all(filesystem):
    libs = [m.name for m in filesystem if re.search(r"\.so(\.\d+)*$", m.name)]
    assert not libs, f"shared libraries in a static image: {libs[:10]}"


@pytest.fixture(scope="module")
def binary(engine, image, tmp_path_factory):
    return engine.extract(image.tag, "/usr/local/bin/shipshape", tmp_path_factory.mktemp("bin"))


def elf_facts(path):
    """(has PT_INTERP, DT_NEEDED libraries, section names) of a 64-bit little-endian ELF file."""
    data = open(path, "rb").read()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "not a 64-bit ELF file"
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
    interp, needed = False, 0
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        interp |= p_type == 3  # PT_INTERP
        if p_type == 2:  # PT_DYNAMIC: a static-pie binary has one, for its own relocations
            for off in range(p_offset, p_offset + p_filesz, 16):
                tag, _ = struct.unpack_from("<qQ", data, off)
                needed += tag == 1  # DT_NEEDED: a shared library to load
    sections = []
    str_off = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)[0]
    for i in range(shnum):
        name_off = struct.unpack_from("<I", data, shoff + i * shentsize)[0]
        end = data.index(b"\0", str_off + name_off)
        sections.append(data[str_off + name_off : end].decode())
    return interp, needed, sections


def test_binary_is_static_and_auditable(binary, measure):
    interp, needed, sections = elf_facts(binary)
    measure("binary", run(["file", "-b", binary]).stdout.strip())
    assert not interp, "the binary asks for a dynamic loader (PT_INTERP)"
    assert needed == 0, f"the binary needs {needed} shared libraries (DT_NEEDED)"
    # cargo-auditable's compressed dependency list, read by Trivy, syft, cargo audit bin.
    assert ".dep-v0" in sections, "no .dep-v0 section: not built with cargo auditable"


def test_size_budgets(engine, image, binary, measure):
    size = engine.image_size(image.tag) / 1e6
    base = engine.image_size(image.runtime_base) / 1e6
    bin_mb = os.path.getsize(binary) / 1e6
    measure("size", f"image {size:.1f} MB = runtime base {base:.1f} MB + binary {bin_mb:.1f} MB (uncompressed; "
            f"budgets {IMAGE_BUDGET_MB:.0f} / {BINARY_BUDGET_MB:.0f} MB)")
    assert bin_mb <= BINARY_BUDGET_MB, f"binary {bin_mb:.1f} MB > {BINARY_BUDGET_MB} MB"
    assert size <= IMAGE_BUDGET_MB, f"image {size:.1f} MB > {IMAGE_BUDGET_MB} MB"


def test_cold_start_and_memory(binary, tmp_path, measure):
    """The static binary runs on any Linux as it is: started here directly, time to ready and RSS after a
    few hundred requests are reported (numbers, not a timed assertion); RSS stays within its budget."""
    port = free_port()
    env = {"PORT": str(port), "BIND_ADDRESS": "127.0.0.1", "DATABASE_URL": f"sqlite://{tmp_path}/t.db",
           "LOG_LEVEL": "warn", "PATH": "/usr/bin:/bin"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready_ms = None
        while time.perf_counter() - t0 < 10:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        ready_ms = (time.perf_counter() - t0) * 1000
                        break
            except OSError:
                time.sleep(0.001)
        assert ready_ms is not None, "not ready within 10 s"
        for i in range(300):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=5).read()
            if i % 3 == 0:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/users/",
                                             data=json.dumps({"dni": f"{i:08d}", "name": "rss"}).encode(),
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=5).read()
        status = open(f"/proc/{proc.pid}/status").read()
        rss_mb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024
        measure("footprint", f"cold start to ready {ready_ms:.1f} ms (aim 50 ms), peak RSS {rss_mb:.1f} MiB after "
                f"400 requests (budget {RSS_BUDGET_MB:.0f} MiB)")
        assert rss_mb <= RSS_BUDGET_MB, f"peak RSS {rss_mb:.1f} MiB > {RSS_BUDGET_MB}"
    finally:
        proc.terminate()
        proc.wait(30)


def test_archive_and_sbom_list_the_crates(engine, image, measure):
    """The SBOM of the built image (syft, offline) lists the crates inside the binary and the Debian
    packages of the base; the archive is what the pipeline's scanners read."""
    out = out_dir()
    archive = os.path.join(out, "shipshape-image.tar")
    source = engine.save(image.tag, archive)
    with tarfile.open(archive) as tar:
        assert {"index.json", "manifest.json"} & set(tar.getnames()), "not an image archive"
    spdx, cdx = os.path.join(out, "sbom-image.spdx.json"), os.path.join(out, "sbom-image.cdx.json")
    run(["syft", "-q", source, "-o", f"spdx-json={spdx}", "-o", f"cyclonedx-json={cdx}"],
        env=dict(os.environ, SYFT_CHECK_FOR_APP_UPDATE="false"))
    packages = json.load(open(spdx))["packages"]
    crates = {p["name"] for p in packages if any("pkg:cargo/" in r.get("referenceLocator", "")
                                                  for r in p.get("externalRefs", []))}
    debs = {p["name"] for p in packages if any("pkg:deb/" in r.get("referenceLocator", "")
                                                for r in p.get("externalRefs", []))}
    measure("sbom", f"{len(crates)} crates, {len(debs)} Debian packages -> {spdx}")
    assert {"shipshape", "tokio", "axum", "sqlx-core", "rustls"} <= crates, f"crates missing from the SBOM: {sorted(crates)[:20]}"
    assert {"tzdata", "ca-certificates"} <= debs, f"Debian packages missing from the SBOM: {sorted(debs)}"
