#!/usr/bin/env python3
"""Cross-reference checks of the CI configs that no JSON schema can express.

Usage: pipeline-check.py [--circleci FILE] [--github FILE] [--makefile FILE] [--root DIR]

Fails (exit 1, one line per problem) when:
  - a `run:` step is anything but `make <target>` or `scripts/<name>.sh` (one pipeline, several runners:
    no logic in YAML), optionally behind `sudo -E env "PATH=$PATH"` for jobs that need root;
  - a referenced make target is not in the Makefile, or its recipe's script is missing / not executable;
  - a referenced scripts/<name>.sh is missing or not executable;
  - an orb, image, machine image or action is not pinned to an exact version;
  - a workflow references an undefined job, `requires` a job outside its workflow, or a defined job is
    never used;
  - a job using a publish/deploy/apply context is not limited to the main branch, or a tf-apply job
    (tf-apply, gcp-tf-apply) is not behind an approval job;
  - a job using an apply context runs on tags, or a deploy/apply job has no serial-group (two pipelines
    would deploy or apply at once);
  - a job runs a make target of the Makefile's MACHINE_TARGETS (container engines, BuildKit,
    systemd-nspawn: they need a whole VM with root) anywhere but on a machine executor (CircleCI) or on
    the runner itself (GitHub: no `container:`);
  - a `rust:` image is not the toolchain of rust-toolchain.toml;
  - a job uses both a publish and a deploy context (the signer would also move the release pointer).
"""
import argparse
import os
import re
import sys

from ruamel.yaml import YAML

RUN_RE = re.compile(
    r'^(?:sudo -E env "PATH=\$PATH" )?(?:make (?P<target>[a-z0-9${}. -]+)|(?P<script>scripts/[a-z0-9-]+\.sh)(?: .*)?)$'
)
ORB_RE = re.compile(r"^[a-z0-9-]+/[a-z0-9-]+@\d+\.\d+\.\d+$")
IMAGE_RE = re.compile(r"^[a-z0-9./-]+(?::[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$")
ACTION_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@(?:v\d+\.\d+\.\d+|[0-9a-f]{40})$")
DEPLOY_BRANCH = "main"
PRIVILEGED_CONTEXTS = ("shipshape-aws-publish", "shipshape-aws-deploy", "shipshape-aws-apply",
                       "shipshape-gcp-publish", "shipshape-gcp-deploy", "shipshape-gcp-apply")
# The signer and the pointer mover are separate identities: no job may hold both.
PUBLISH_CONTEXTS = ("shipshape-aws-publish", "shipshape-gcp-publish")
DEPLOY_CONTEXTS = ("shipshape-aws-deploy", "shipshape-gcp-deploy")
APPLY_CONTEXTS = ("shipshape-aws-apply", "shipshape-gcp-apply")
SERIAL_CONTEXTS = ("shipshape-aws-deploy", "shipshape-aws-apply", "shipshape-gcp-deploy", "shipshape-gcp-apply")


class Checker:
    def __init__(self, root, makefile):
        self.root = root
        self.errors = []
        self.targets = self._make_targets(makefile)
        self.machine_targets = self._make_list(makefile, "MACHINE_TARGETS")
        self.referenced = set()
        self.toolchain = self._toolchain()

    @staticmethod
    def _make_list(makefile, name):
        text = open(makefile, encoding="utf-8").read().replace("\\\n", " ")
        m = re.search(rf"^{name}\s*:?=\s*(.*)$", text, re.M)
        return set(m.group(1).split()) if m else set()

    def _toolchain(self):
        path = os.path.join(self.root, "rust-toolchain.toml")
        if not os.path.isfile(path):
            return None
        m = re.search(r'^channel = "([^"]+)"', open(path, encoding="utf-8").read(), re.M)
        return m.group(1) if m else None

    def check_image(self, where, image):
        """Pinned, and a Rust image is the repository's toolchain."""
        if not IMAGE_RE.match(image) or image.endswith(":latest"):
            self.err(where, f"image not pinned: {image!r}")
        m = re.match(r"^(?:docker\.io/library/)?rust:([0-9.]+)", image)
        if m and self.toolchain and m.group(1) != self.toolchain:
            self.err(where, f"{image} is not the toolchain of rust-toolchain.toml ({self.toolchain})")

    def run_targets(self, command, matrix=None):
        """The make targets a run step invokes (matrix expressions expanded)."""
        m = RUN_RE.match(command.strip())
        if not m or not m.group("target"):
            return set()
        targets = re.sub(r"\$\{\{ *matrix\.([a-z_]+) *\}\}", r"@matrix.\1", m.group("target"))
        found = set()
        for target in targets.split():
            expr = re.fullmatch(r"@matrix\.([a-z_]+)", target)
            found |= {str(v) for v in (matrix or {}).get(expr.group(1), [])} if expr else {target}
        return found

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def _make_targets(self, makefile):
        targets = {}
        current = None
        with open(makefile, encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r"^([a-z0-9][a-z0-9-]*):(?!=)", line)
                if m:
                    current = m.group(1)
                    targets[current] = []
                elif line.startswith("\t") and current:
                    targets[current].append(line.strip())
                elif line.strip() == "":
                    continue
                else:
                    current = None
        return targets

    def check_script(self, where, path):
        full = os.path.join(self.root, path)
        if not os.path.isfile(full):
            self.err(where, f"{path} does not exist")
        elif not os.access(full, os.X_OK):
            self.err(where, f"{path} is not executable")
        self.referenced.add(path)

    def check_target(self, where, target):
        if target not in self.targets:
            self.err(where, f"make target '{target}' is not in the Makefile")
            return
        for line in self.targets[target]:
            for script in re.findall(r"scripts/[A-Za-z0-9_-]+\.sh", line):
                self.check_script(f"{where} (make {target})", script)

    def check_run(self, where, command, matrix=None):
        command = command.strip()
        if "\n" in command:
            self.err(where, "multi-line run step: put the logic in a script")
            return
        m = RUN_RE.match(command)
        if not m:
            self.err(where, f"run step is not `make <target>` or `scripts/<name>.sh`: {command!r}")
            return
        if m.group("script"):
            self.check_script(where, m.group("script"))
            return
        targets = re.sub(r"\$\{\{ *matrix\.([a-z_]+) *\}\}", r"@matrix.\1", m.group("target"))
        for target in targets.split():
            expr = re.fullmatch(r"@matrix\.([a-z_]+)", target)
            if expr:
                values = (matrix or {}).get(expr.group(1))
                if not values:
                    self.err(where, f"{target} has no matrix values to check")
                for value in values or []:
                    self.check_target(where, str(value))
            elif "$" in target:
                self.err(where, f"unresolvable make target {target!r}")
            else:
                self.check_target(where, target)

    # ------------------------------------------------------------------------------------ CircleCI
    def circleci(self, path):
        cfg = YAML(typ="safe").load(open(path, encoding="utf-8"))
        for alias, orb in (cfg.get("orbs") or {}).items():
            if not isinstance(orb, str) or not ORB_RE.match(orb):
                self.err(f"{path}: orbs.{alias}", f"orb not pinned to an exact version: {orb!r}")

        def images(where, node):
            for i, img in enumerate(node.get("docker") or []):
                self.check_image(f"{where}.docker[{i}]", str(img.get("image", "")))
            machine = node.get("machine")
            if isinstance(machine, dict):
                image = str(machine.get("image", ""))
                if not re.match(r"^[a-z0-9-]+:\d{4}\.\d{2}(\.\d+)?$", image):
                    self.err(f"{where}.machine", f"machine image not pinned to a dated release: {image!r}")

        for name, ex in (cfg.get("executors") or {}).items():
            images(f"{path}: executors.{name}", ex)

        def steps(where, step_list):
            for i, step in enumerate(step_list or []):
                if isinstance(step, dict) and "run" in step:
                    run = step["run"]
                    command = run if isinstance(run, str) else run.get("command", "")
                    self.check_run(f"{where}.steps[{i}]", command)

        for name, cmd in (cfg.get("commands") or {}).items():
            steps(f"{path}: commands.{name}", cmd.get("steps"))
        jobs = cfg.get("jobs") or {}
        executors = cfg.get("executors") or {}
        for name, job in jobs.items():
            images(f"{path}: jobs.{name}", job)
            steps(f"{path}: jobs.{name}", job.get("steps"))
            self.circleci_executor(path, name, job, executors)

        used = set()
        for wf_name, wf in (cfg.get("workflows") or {}).items():
            if not isinstance(wf, dict) or "jobs" not in wf:
                continue
            entries = {}
            for entry in wf["jobs"]:
                if isinstance(entry, str):
                    entries[entry] = {}
                else:
                    (job_name, params), = entry.items()
                    entries[(params or {}).get("name", job_name)] = dict(params or {}, _job=job_name)
            for name, params in entries.items():
                where = f"{path}: workflows.{wf_name}.{name}"
                job = params.get("_job", name)
                if params.get("type") == "approval":
                    pass
                elif job not in jobs and "/" not in job:
                    self.err(where, f"job '{job}' is not defined")
                used.add(job)
                for req in params.get("requires") or []:
                    if req not in entries:
                        self.err(where, f"requires '{req}', which is not in this workflow")
                contexts = params.get("context") or []
                contexts = [contexts] if isinstance(contexts, str) else contexts
                only = ((params.get("filters") or {}).get("branches") or {}).get("only")
                only = [only] if isinstance(only, str) else (only or [])
                if any(c in PRIVILEGED_CONTEXTS for c in contexts) and only != [DEPLOY_BRANCH]:
                    self.err(where, f"uses {contexts} but is not limited to branch {DEPLOY_BRANCH}")
                if any(c in APPLY_CONTEXTS for c in contexts) and (params.get("filters") or {}).get("tags"):
                    self.err(where, "applies infrastructure on tags (the apply identity trusts the deploy branch only)")
                if any(c in PUBLISH_CONTEXTS for c in contexts) and any(c in DEPLOY_CONTEXTS for c in contexts):
                    self.err(where, f"uses {contexts}: one job would both sign releases and move the release pointer")
                if any(c in SERIAL_CONTEXTS for c in contexts) and not params.get("serial-group"):
                    self.err(where, f"uses {contexts} without a serial-group: two pipelines would run it at once")
            for name, params in entries.items():
                if params.get("_job", name).endswith("tf-apply") and not self._behind_approval(entries, name):
                    self.err(f"{path}: workflows.{wf_name}.{name}", "not behind a `type: approval` job")
        for name in jobs:
            if name not in used:
                self.err(f"{path}: jobs.{name}", "defined but used by no workflow")

    def circleci_executor(self, path, name, job, executors):
        needs = set()
        for step in job.get("steps") or []:
            if isinstance(step, dict) and "run" in step:
                run = step["run"]
                needs |= self.run_targets(run if isinstance(run, str) else run.get("command", ""))
        needs &= self.machine_targets
        if not needs:
            return
        ex = job.get("executor")
        ex_name = ex if isinstance(ex, str) else (ex or {}).get("name")
        node = executors.get(ex_name, {}) if ex_name else job
        if "machine" not in node:
            kind = "docker" if "docker" in node else "unknown"
            self.err(f"{path}: jobs.{name}", f"runs make {' '.join(sorted(needs))}, which needs a machine executor "
                     f"(container engine, BuildKit or systemd-nspawn), but executor {ex_name or '(inline)'!r} is {kind}")

    @staticmethod
    def _behind_approval(entries, name, seen=None):
        seen = seen or set()
        for req in entries.get(name, {}).get("requires") or []:
            if req in seen:
                continue
            seen.add(req)
            if entries.get(req, {}).get("type") == "approval":
                return True
            if Checker._behind_approval(entries, req, seen):
                return True
        return False

    # -------------------------------------------------------------------------------------- GitHub
    def github(self, path):
        wf = YAML(typ="safe").load(open(path, encoding="utf-8"))
        for name, job in (wf.get("jobs") or {}).items():
            matrix = ((job.get("strategy") or {}).get("matrix")) or {}
            container = job.get("container")
            if container:
                image = container if isinstance(container, str) else container.get("image", "")
                self.check_image(f"{path}: jobs.{name}.container", image)
                needs = set()
                for step in job.get("steps") or []:
                    if "run" in step:
                        needs |= self.run_targets(step["run"], matrix)
                needs &= self.machine_targets
                if needs:
                    self.err(f"{path}: jobs.{name}", f"runs make {' '.join(sorted(needs))} inside container {image!r}: "
                             "it needs the runner VM itself (container engine, BuildKit or systemd-nspawn)")
            for svc, spec in (job.get("services") or {}).items():
                if not IMAGE_RE.match(spec.get("image", "")):
                    self.err(f"{path}: jobs.{name}.services.{svc}", f"image not pinned: {spec.get('image')!r}")
            for i, step in enumerate(job.get("steps") or []):
                where = f"{path}: jobs.{name}.steps[{i}]"
                if "uses" in step and not ACTION_RE.match(step["uses"]):
                    self.err(where, f"action not pinned to vX.Y.Z or a commit: {step['uses']!r}")
                if "run" in step:
                    self.check_run(where, step["run"], matrix)


def precommit_covers_lint(config, lint_script):
    """Every command of scripts/lint.sh is the entry of a pre-commit hook; returns the problems."""
    cfg = YAML(typ="safe").load(open(config, encoding="utf-8")) or {}
    entries = {h.get("entry", "").strip() for r in cfg.get("repos") or [] for h in r.get("hooks") or []}
    commands = [ln.strip() for ln in open(lint_script, encoding="utf-8")
                if ln.strip() and not ln.lstrip().startswith("#")
                and not re.match(r"^(set |cd |source |\.)", ln.strip())]
    return [f"{config}: no hook runs `{c}` ({lint_script})" for c in commands if c not in entries]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precommit", help="check that this pre-commit config's hooks run --lint's commands")
    ap.add_argument("--lint", default="scripts/lint.sh")
    ap.add_argument("--root", default=".")
    ap.add_argument("--circleci", default=".circleci/config.yml")
    ap.add_argument("--github", default=".github/workflows/ci.yml")
    ap.add_argument("--makefile", default="Makefile")
    args = ap.parse_args()
    if args.precommit:
        problems = precommit_covers_lint(args.precommit, args.lint)
        for p in problems:
            print(f"pipeline-check: {p}", file=sys.stderr)
        if not problems:
            print(f"pipeline-check: {args.precommit} runs every command of {args.lint}")
        return 1 if problems else 0
    checker = Checker(args.root, args.makefile)
    checker.circleci(args.circleci)
    checker.github(args.github)
    for e in checker.errors:
        print(f"pipeline-check: {e}", file=sys.stderr)
    if checker.errors:
        print(f"pipeline-check: {len(checker.errors)} problem(s)", file=sys.stderr)
        return 1
    scripts = sorted(checker.referenced)
    print(f"pipeline-check: references ok: {len(scripts)} scripts behind the CI steps: {' '.join(scripts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
