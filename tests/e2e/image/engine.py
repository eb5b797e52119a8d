"""The container engine behind one interface: podman (daemonless, here) or Docker with BuildKit (CircleCI
and GitHub machine runners). The tests speak only to this class, so the same assertions run on both."""
from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time

from habitat import OUT, ROOT, CommandFailed, run

LABEL = "org.shipshape.e2e"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class Engine:
    def __init__(self, name: str, cache_dir: str):
        self.name = name
        self.cache_dir = cache_dir

    def __call__(self, *args, **kw) -> subprocess.CompletedProcess:
        return run([self.name, *args], **kw)

    def version(self) -> str:
        return self("version", "--format", "{{.Server.Version}}" if self.name == "docker" else "{{.Version}}").stdout.strip()

    # ------------------------------------------------------------------------------------ images
    def build(self, tag: str, build_args: dict, log_path) -> None:
        """Build the repository's Dockerfile, unchanged, from the base images provisioning put in the
        local store (never pulling), with the commit time as SOURCE_DATE_EPOCH."""
        args = []
        for k, v in build_args.items():
            args += ["--build-arg", f"{k}={v}"]
        if self.name == "podman":
            # --format docker: in OCI format podman drops HEALTHCHECK, and users get the docker format.
            # --timestamp: image and file times from the commit. Host network for crates.io (the only
            # network the build uses), trusting the CAs this host trusts (a TLS-inspecting proxy's too);
            # the bundle is a build-time mount, never part of a layer. BuildKit cache mounts live in
            # TMPDIR for buildah.
            cmd = ["podman", "build", "--format", "docker", "--pull=never", "--network=host", "--layers",
                   "--timestamp", build_args["SOURCE_DATE_EPOCH"],
                   "--volume", f"{HOST_CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt:ro",
                   *args, "--tag", tag, "--file", "Dockerfile", "."]
            tmp = os.path.join(self.cache_dir, "tmp")
            os.makedirs(tmp, exist_ok=True)
            env = dict(os.environ, TMPDIR=tmp)
            earlier = self.dangling()
        else:
            # BuildKit as the pipeline uses it (scripts/image.sh): a docker-container builder, the base
            # images by their pinned digests, file times rewritten to SOURCE_DATE_EPOCH; then loaded.
            if self("buildx", "inspect", "shipshape-e2e", check=False).returncode != 0:
                self("buildx", "create", "--name", "shipshape-e2e", "--driver", "docker-container")
            for line in (ROOT / "tools" / "base-images.lock").read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    args += ["--build-context", f"{line.split('@')[0]}=docker-image://{line.strip()}"]
            archive = os.path.join(os.path.dirname(log_path), "build.tar")
            cmd = ["docker", "buildx", "build", "--builder", "shipshape-e2e", *args,
                   "--output", f"type=docker,name={tag},dest={archive},rewrite-timestamp=true",
                   "--file", "Dockerfile", "."]
            env = dict(os.environ)
        with open(log_path, "w") as log:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=3600)
        if proc.returncode != 0:
            tail = "".join(open(log_path).readlines()[-60:])
            raise CommandFailed(f"image build failed (full log: {log_path}):\n{tail}")
        if self.name == "docker":
            self("load", "-i", archive)
        else:
            # Each build leaves its builder stage (about 2 GB) untagged in the store, and the store
            # would grow by one per commit built. The untagged images this build neither made nor
            # took from the cache (each step's image is logged as "--> ID") are dropped; layers they
            # share with this build's images stay, so the next build keeps its cache.
            with open(log_path) as log:
                used = tuple(line.split()[-1] for line in log if line.startswith("--> "))
            for image in earlier:
                if not image.startswith(used):
                    self("rmi", image, check=False)

    def dangling(self) -> list[str]:
        ids = self("images", "--quiet", "--no-trunc", "--filter", "dangling=true").stdout.split()
        return [i.removeprefix("sha256:") for i in ids]

    def inspect(self, obj: str, kind: str = "image") -> dict:
        return json.loads(self(kind, "inspect", obj).stdout)[0]

    def image_size(self, image: str) -> int:
        return int(self.inspect(image)["Size"])

    def layers(self, image: str) -> list:
        return self.inspect(image)["RootFS"]["Layers"]

    def filesystem(self, image: str, dest) -> list[tarfile.TarInfo]:
        """The image's merged file system as tar members (create + export works on both engines)."""
        ctr = self("create", "--pull=never", image).stdout.strip()
        try:
            path = os.path.join(dest, "fs.tar")
            self("export", "-o", path, ctr)
            with tarfile.open(path) as tar:
                return tar.getmembers()
        finally:
            self("rm", "-f", ctr, check=False)

    def extract(self, image: str, member: str, dest) -> str:
        ctr = self("create", "--pull=never", image).stdout.strip()
        try:
            out = os.path.join(dest, os.path.basename(member))
            self("cp", f"{ctr}:{member}", out)
            return out
        finally:
            self("rm", "-f", ctr, check=False)

    def save(self, image: str, path) -> str:
        """An archive of the image for offline tools; returns syft's source reference for it."""
        if self.name == "podman":
            self("save", "--quiet", "--format", "oci-archive", "-o", str(path), image)
            return f"oci-archive:{path}"
        self("save", "-o", str(path), image)
        return f"docker-archive:{path}"

    # -------------------------------------------------------------------------------- containers
    def run_hardened(self, name: str, image: str, opts=(), args=()) -> None:
        """Run as users are told to: read-only root, no capabilities, no privilege gain, own USER."""
        extra = ["--read-only-tmpfs=false"] if self.name == "podman" else ["--health-interval=1s"]
        self("run", "-d", "--name", name, "--label", f"{LABEL}=1", "--pull=never", "--read-only",
             "--cap-drop", "ALL", "--security-opt", "no-new-privileges", *extra, *opts, image, *args)

    def state(self, name: str) -> dict:
        return self.inspect(name, "container")["State"]

    def pid(self, name: str) -> int:
        return int(self.state(name)["Pid"])

    def logs(self, name: str, tail: int = 60) -> str:
        p = self("logs", "--tail", str(tail), name, check=False)
        return (p.stdout + p.stderr).strip()

    def healthcheck(self, name: str) -> bool:
        """Run the image's HEALTHCHECK once (podman) or wait for the engine's verdict (Docker)."""
        if self.name == "podman":
            return self("healthcheck", "run", name, check=False).returncode == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = (self.state(name).get("Health") or {}).get("Status")
            if status in ("healthy", "unhealthy"):
                return status == "healthy"
            time.sleep(0.5)
        return False

    def stop_async(self, name: str, grace: int) -> subprocess.Popen:
        return subprocess.Popen([self.name, "stop", "-t", str(grace), name], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

    def remove_leftovers(self) -> None:
        """Containers and volumes of an interrupted earlier run."""
        for kind in ("container", "volume"):
            flag = ["-a"] if kind == "container" else []
            ids = self(kind, "ls", *flag, "-q", "--filter", f"label={LABEL}", check=False).stdout.split()
            if ids:
                self(kind, "rm", "-f", *ids, check=False)


def out_dir() -> str:
    path = OUT / "image"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
