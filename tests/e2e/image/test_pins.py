"""One version per thing: the Dockerfile's base images, their digests and the Rust toolchain agree."""
import re

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
