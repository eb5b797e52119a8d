"""The repository is complete on its own: each step of .ci/run, run from a fresh clone with nothing
beside it (no ../shared, no offline accelerator) and only the package registries for network, either
passes or stops with one clear last line naming what the habitat lacks -- never a stack trace.

The steps are read from .ci/run itself (`step NAME make TARGET`), so a new step is covered at once.
Run one with `make clean-clone-check E2E_ARGS="-k tf-check"`. A step that exits naming what the habitat
lacks (scripts/provision.sh and scripts/e2e.sh say "habitat lacks ...") is reported as skipped with that
line; any other failure fails. Habitat parameters (BASE_IMAGES,
CONTAINER_ENGINE, DEBIAN_ARCHIVE) pass through; TF_OFFLINE_DIR and the workplace's markers do not.
"""
import os
import re
import shlex
import subprocess

import pytest

from habitat import ROOT, require, run

HELPER_LINE = re.compile(r"^(make: \*\*\*|\S+: FAILED in step: |steps finished before the failure:|\s+\d+\.\d s  )")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|panicked at|^\s+at .+\(.+:\d+:\d+\)$", re.M)
STEP_TIMEOUT = int(os.environ.get("CLEAN_CLONE_STEP_TIMEOUT", "3600"))


def ci_steps():
    """(name, extra environment, make target) of every `step NAME [env K=V...] make TARGET` line."""
    steps = []
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        if not line.startswith("step "):
            continue
        words = shlex.split(line)
        if "make" not in words or "clean-clone-check" in words:  # not itself, recursively
            continue
        name, rest = words[1], words[2 : words.index("make")]
        env = dict(w.split("=", 1) for w in rest if "=" in w)
        steps.append((name, env, words[words.index("make") + 1]))
    return steps


@pytest.fixture(scope="session")
def clone(tmp_path_factory):
    require("clone", tools=["git", "make"])
    # A directory of its own: nothing named shared/ beside the clone.
    parent = tmp_path_factory.mktemp("lonely")
    dest = parent / "shipshape"
    run(["git", "clone", "--quiet", "--no-hardlinks", ROOT, dest])
    assert not (parent / "shared").exists()
    return dest


def clean_env(clone):
    keep = ("PATH", "HOME", "LANG", "TERM", "USER", "XDG_CACHE_HOME", "BASE_IMAGES", "CONTAINER_ENGINE",
            "DEBIAN_ARCHIVE", "TEST_DATABASE_URL", "TEST_DATABASE_CA", "CI")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["CI"] = "true"
    # Builds of the clone share a target directory between runs (a cache, like ~/.cache): the clone
    # stays clean, the second run is not a cold compile.
    env["CARGO_TARGET_DIR"] = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                                           "shipshape", "clean-clone-target")
    return env


def test_steps_are_found():
    names = [s[0] for s in ci_steps()]
    assert {"lint", "test", "deny", "tf-check", "pipeline-check", "image-test"} <= set(names), names


@pytest.mark.parametrize("name,extra_env,target", ci_steps(), ids=[s[0] for s in ci_steps()])
def test_step_passes_or_names_what_is_missing(clone, name, extra_env, target):
    env = dict(clean_env(clone), **extra_env)
    proc = subprocess.run(["make", target], cwd=clone, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    out = (proc.stdout + proc.stderr)
    # The step helper's own closing lines (timings, "FAILED in step") and make's are not the cause.
    last = [ln for ln in proc.stderr.strip().splitlines()
            if ln.strip() and not HELPER_LINE.match(ln)]
    print(f"{name}: exit {proc.returncode}; last line: {last[-1] if last else '(none)'}")
    if proc.returncode != 0:
        print("---- the step's last 40 lines ----\n" + "\n".join(out.strip().splitlines()[-40:]))
    assert not TRACEBACK.search(out), f"{name}: a stack trace instead of a clear line:\n{out[-3000:]}"
    if proc.returncode != 0:
        assert last, f"{name} failed (exit {proc.returncode}) without saying why"
        assert len(last[-1]) < 300, f"{name}: the last line is not one clear line: {last[-1][:300]}"
        if "habitat lacks" in last[-1]:
            # Visible in the summary as skipped with its reason, never counted as passed.
            pytest.skip(f"{name}: {last[-1]}")
        pytest.fail(f"{name} stops in a clean clone: {last[-1]}", pytrace=False)
