"""One version per thing and a build that is the same everywhere: the Dockerfile's base images, their digests
and the Rust toolchain agree; compile steps never run as root."""
import re

import pytest

from imagelib import pinned_images
from habitat import ROOT


def from_lines():
    return re.findall(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)", (ROOT / "Dockerfile").read_text(), re.M)


def test_every_base_image_is_pinned_by_digest():
    pins = pinned_images()
    froms = from_lines()
    assert froms, "no FROM line in the Dockerfile"
    assert sorted(set(froms)) == sorted(pins), f"Dockerfile FROM {froms} vs tools/base-images.lock {sorted(pins)}"
    for name, digest in pins.items():
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{name}: {digest} is not a sha256 digest"
        assert ":" in name.rsplit("/", 1)[-1] and not name.endswith(":latest"), f"{name} has no fixed tag"


def test_builder_uses_the_repository_toolchain():
    channel = re.search(r'^channel = "([^"]+)"', (ROOT / "rust-toolchain.toml").read_text(), re.M).group(1)
    rust = [n for n in from_lines() if "/rust:" in n]
    assert rust == [f"docker.io/library/rust:{channel}-bookworm"], f"builder {rust} vs rust-toolchain.toml {channel}"


def compile_users(dockerfile: str) -> list[str]:
    """The USER in force at each RUN that compiles (cargo), in the order of the Dockerfile."""
    text = re.sub(r"\\\n", " ", dockerfile)
    user, users = "0", []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            user = "0"
        elif line.startswith("USER "):
            user = line.split()[1]
        elif line.startswith("RUN ") and re.search(r"\bcargo (auditable )?(build|install)\b", line):
            users.append(user)
    return users


def rule_compiles_unprivileged(dockerfile: str) -> None:
    users = compile_users(dockerfile)
    assert users, "no compile step found"
    for user in users:
        uid = user.split(":")[0]
        assert uid.isdigit() and uid != "0", f"a compile step runs as USER {user!r} (root or not numeric)"


def test_compile_steps_are_not_root():
    rule_compiles_unprivileged((ROOT / "Dockerfile").read_text())


def test_rule_catches_a_root_compile_step():
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001\n" in text, "mutation no longer applies"
    with pytest.raises(AssertionError):
        rule_compiles_unprivileged(text.replace("USER 10001:10001\n", "USER 0:0\n", 1))
