#!/usr/bin/env bash
# Exercises scripts/publish.sh against stand-in `aws`, `docker`, `skopeo`, `cosign` and `helm` (no
# registry here; ECR's tags are files) with a real OCI archive of the shape scripts/image.sh writes (an
# index of linux/amd64, linux/arm64 and an attestation manifest). Proves: the whole index is pushed
# (`skopeo copy --all --preserve-digests` from the archive), the tag, the signature (recursive) and
# publish.env's IMAGE_DIGEST are the index digest, the SBOM is attested to the amd64 image it
# describes; a re-run pushes and signs nothing; a tag holding another image, a re-encoded push and an
# archive without arm64 are refused. Called by scripts/pipeline-check.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/repo" "$WORK/state/tags" "$WORK/state/signed"
cp -r scripts Cargo.toml "$WORK/repo/"
# cosign's pinned install has its own test (test-cosign-install.sh); here the stand-in is on PATH.
printf 'COSIGN_VERSION=stand-in\nneed_cosign() { :; }\n' >"$WORK/repo/scripts/lib/cosign.sh"
REG=123456789012.dkr.ecr.us-east-1.amazonaws.com
SHA=0123456789ab

# archive PLATFORMS...: out/image/shipshape.oci.tar with an index of those platforms; prints the index
# digest and the amd64 manifest's digest.
archive() {
  python3 - "$WORK/repo/out/image" "$@" <<'PY'
import hashlib, io, json, pathlib, sys, tarfile
out, platforms = pathlib.Path(sys.argv[1]), sys.argv[2:]
out.mkdir(parents=True, exist_ok=True)
blobs = {}
def add(obj, media):
    raw = json.dumps(obj, sort_keys=True).encode()
    d = "sha256:" + hashlib.sha256(raw).hexdigest()
    blobs[d] = raw
    return {"mediaType": media, "digest": d, "size": len(raw)}
IMG = "application/vnd.oci.image.manifest.v1+json"
manifests = []
for p in platforms + ["unknown/unknown"]:
    os_, arch = p.split("/")
    desc = add({"schemaVersion": 2, "mediaType": IMG, "config": {"digest": "sha256:" + "0" * 64}, "layers": [], "p": p}, IMG)
    desc["platform"] = {"os": os_, "architecture": arch}
    manifests.append(desc)
index = add({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests},
            "application/vnd.oci.image.index.v1+json")
with tarfile.open(out / "shipshape.oci.tar", "w") as tar:
    def put(name, raw):
        info = tarfile.TarInfo(name); info.size = len(raw); tar.addfile(info, io.BytesIO(raw))
    put("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    put("index.json", json.dumps({"schemaVersion": 2, "manifests": [index]}).encode())
    for d, raw in blobs.items():
        put("blobs/" + d.replace(":", "/"), raw)
amd64 = next((m["digest"] for m in manifests if m["platform"]["architecture"] == "amd64"), "")
print(index["digest"], amd64)
PY
}

cat >"$WORK/bin/aws" <<'SH'
#!/usr/bin/env bash
echo "aws $*" >>"$STUB_LOG"
arg() { local want="$1"; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
case "$1 $2" in
  "ecr get-login-password") echo stand-in-password ;;
  "ecr describe-images")
    f="$STUB_STATE/tags/$(arg --repository-name "$@" | tr / _):$(arg --image-ids "$@" | sed 's/^imageTag=//')"
    [ -f "$f" ] || { echo "ImageNotFoundException" >&2; exit 254; }
    cat "$f" ;;
  *) echo "unexpected aws $*" >&2; exit 9 ;;
esac
SH
cat >"$WORK/bin/docker" <<'SH'
#!/usr/bin/env bash
echo "docker $*" >>"$STUB_LOG"
case "$1" in login) cat >/dev/null ;; *) echo "unexpected docker $*" >&2; exit 9 ;; esac
SH
cat >"$WORK/bin/skopeo" <<'SH'
#!/usr/bin/env bash
# Pushes as skopeo would: the manifest named by the archive's index.json, under the tag.
echo "skopeo $*" >>"$STUB_LOG"
arg() { local want="$1"; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
src="" dst=""
for a in "$@"; do case "$a" in oci-archive:*) src="${a#oci-archive:}" ;; docker://*) dst="${a#docker://}" ;; esac; done
[ "$1" = copy ] && [ -f "$src" ] && [ -n "$dst" ] || { echo "unexpected skopeo $*" >&2; exit 9; }
digest="${STUB_SKOPEO_DIGEST:-$(tar -xOf "$src" index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')}"
printf '%s' "$digest" >"$(arg --digestfile "$@")"
repo="${dst%:*}"
printf '%s' "$digest" >"$STUB_STATE/tags/${repo#*/}:${dst##*:}"
SH
cat >"$WORK/bin/cosign" <<'SH'
#!/usr/bin/env bash
echo "cosign $*" >>"$STUB_LOG"
ref="${*: -1}"
marker="$STUB_STATE/signed/$(echo "$ref" | tr '/:@' '___')"
case "$1" in
  verify) [ -f "$marker" ] ;;
  sign) touch "$marker" ;;
  attest) ;;
  *) echo "unexpected cosign $*" >&2; exit 9 ;;
esac
SH
cat >"$WORK/bin/helm" <<'SH'
#!/usr/bin/env bash
echo "helm $*" >>"$STUB_LOG"
arg() { local want="$1"; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
case "$1" in
  package) touch "$(arg --destination "$@")/shipshape-$(arg --version "$@").tgz" ;;
  registry) cat >/dev/null ;;
  push) v="$(basename "$2" .tgz)"; d="sha256:$(printf '%s' "$v" | sha256sum | cut -d' ' -f1)"
        printf '%s' "$d" >"$STUB_STATE/tags/charts_shipshape:${v#shipshape-}"; echo "Pushed: $3/shipshape:${v#shipshape-}"; echo "Digest: $d" ;;
  *) echo "unexpected helm $*" >&2; exit 9 ;;
esac
SH
chmod +x "$WORK/bin/"*

export PATH="$WORK/bin:$PATH" STUB_LOG="$WORK/log" STUB_STATE="$WORK/state"
export AWS_REGION=us-east-1 ECR_REGISTRY="$REG" COSIGN_KEY=awskms:///arn:aws:kms:us-east-1:123456789012:alias/shipshape-cosign
export CIRCLE_SHA1="${SHA}cdef0123456789abcdef01234567" CIRCLE_TAG=""
fail() { echo "test-publish: FAIL: $*" >&2; echo "--- log:" >&2; cat "$STUB_LOG" >&2 || true; exit 1; }
run() { : >"$STUB_LOG"; (cd "$WORK/repo" && scripts/publish.sh) >"$WORK/out" 2>&1; }
logged() { grep -qF -- "$1" "$STUB_LOG"; }

read -r INDEX AMD64 < <(archive linux/amd64 linux/arm64)
mkdir -p "$WORK/repo/out/image-report" && echo '{"bomFormat":"CycloneDX"}' >"$WORK/repo/out/image-report/sbom.cdx.json"

# 1. First publish: the whole index, signed, deployed by its digest.
run || { cat "$WORK/out" >&2; fail "first publish failed"; }
logged "skopeo copy --all --preserve-digests" || fail "the index was not copied with --all --preserve-digests"
logged "oci-archive:out/image/shipshape.oci.tar docker://$REG/shipshape:$SHA" || fail "not pushed from the OCI archive to the SHA tag"
! grep -q "^docker push\|^docker load" "$STUB_LOG" || fail "docker pushed a single-platform image"
[ "$(cat "$STUB_STATE/tags/shipshape:$SHA")" = "$INDEX" ] || fail "the tag does not name the index"
logged "cosign sign --yes --recursive --tlog-upload=false --key $COSIGN_KEY $REG/shipshape@$INDEX" || fail "the index digest was not signed recursively"
logged "--predicate out/image-report/sbom.cdx.json $REG/shipshape@$AMD64" || fail "the SBOM was not attested to the amd64 image"
grep -qx "IMAGE_DIGEST=$INDEX" "$WORK/repo/out/publish/publish.env" || fail "publish.env does not deploy the index digest"
echo "test-publish: index $INDEX pushed whole, signed recursively, SBOM on $AMD64, deployed by the index digest"

# 2. A re-run of the same commit: nothing pushed or signed again.
run || { cat "$WORK/out" >&2; fail "re-run failed"; }
! logged "skopeo copy" || fail "re-run pushed again"
! logged "cosign sign " || fail "re-run signed again"
grep -q "already holds this index" "$WORK/out" || fail "re-run did not recognise its own index"
echo "test-publish: re-run pushes and signs nothing"

# 3. The immutable tag holds another image: refused.
printf 'sha256:%064d' 7 >"$STUB_STATE/tags/shipshape:$SHA"
if run; then fail "a tag holding another image was accepted"; fi
grep -q "already holds another image" "$WORK/out" || { cat "$WORK/out" >&2; fail "wrong error for a foreign tag"; }
rm -f "$STUB_STATE/tags/shipshape:$SHA" "$STUB_STATE/signed/"*

# 4. The registry got a re-encoded manifest (another digest than the scanned archive's): refused.
if STUB_SKOPEO_DIGEST="sha256:$(printf '%064d' 9)" run; then fail "a push with another digest was accepted"; fi
grep -q "expected the archive's index" "$WORK/out" || { cat "$WORK/out" >&2; fail "wrong error for a re-encoded push"; }
rm -f "$STUB_STATE/tags/shipshape:$SHA"

# 5. An archive without the arm64 image: refused before anything is pushed.
archive linux/amd64 >/dev/null
if run; then fail "an amd64-only archive was published"; fi
grep -q "lacks a platform" "$WORK/out" || { cat "$WORK/out" >&2; fail "wrong error for a missing platform"; }
! logged "skopeo copy" || fail "an incomplete index was pushed"
echo "test-publish: foreign tag, re-encoded push and missing arm64 refused"
