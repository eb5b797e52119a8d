"""A stand-in for one cloud's instance metadata service and bucket API, for the VM tests.

It runs inside the network namespace the test made for the booted VM (never anywhere else) and
answers the two kinds of requests the VM's release agent makes, checking them the way the cloud does:

  s3:  IMDSv2 (PUT /latest/api/token, then the role's temporary credentials with the token) on
       169.254.169.254, and S3 GetObject on 127.0.0.1:<port>, where every request must carry a valid
       SigV4 signature by those credentials, including the session token;
  gcs: the metadata server's service-account token (only with `Metadata-Flavor: Google`) on
       169.254.169.254, and the Cloud Storage JSON API (GET /storage/v1/b/<bucket>/o/<name>?alt=media)
       on 127.0.0.1:<port>, only with that bearer token.

Objects are files under --root (the test's bucket directory), so the test publishes and tampers
with releases by writing files. Every request is appended to --log as one JSON line.

    python3 fake_cloud.py --kind s3|gcs --root DIR --bucket NAME --region R --port P --log FILE
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Port 80 of the namespace belongs to the VM under test (shipshape.socket), so the metadata stand-in
# listens on another port of the link-local address; the module takes the endpoint as a variable.
METADATA_ADDR = ("169.254.169.254", 8775)
IMDS_TOKEN = "imds-session-token"
ROLE = "shipshape-vm-test-role"
ACCESS_KEY = "ASIATESTKEY00000001"
SECRET_KEY = "test/secret/key/for/the/fake/cloud/only"
SESSION_TOKEN = "test-session-token/with+special=chars"
GCS_TOKEN = "ya29.test-access-token"


def sigv4_ok(method: str, path: str, headers, region: str) -> str | None:
    """None when the request carries a valid SigV4 signature (S3, our credentials); else why not."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no SigV4 Authorization header"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    akid, date, reg, service, term = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    if akid != ACCESS_KEY or reg != region or service != "s3" or term != "aws4_request":
        return f"wrong credential scope {fields['Credential']}"
    for required in ("host", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"):
        if required not in signed:
            return f"{required} is not signed"
    if headers.get("x-amz-security-token") != SESSION_TOKEN:
        return "wrong or missing session token"
    raw_path, _, raw_query = path.partition("?")
    query = "&".join(sorted(raw_query.split("&"))) if raw_query else ""
    canonical_headers = "".join(f"{h}:{' '.join(headers.get(h, '').strip().split())}\n" for h in signed)
    canonical = "\n".join([method, raw_path, query, canonical_headers, ";".join(signed),
                           headers.get("x-amz-content-sha256", "")])
    amz_date = headers.get("x-amz-date", "")
    scope = f"{date}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    want = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, fields.get("Signature", "")):
        return "signature does not match"
    return None


class Cloud:
    def __init__(self, kind: str, root: Path, bucket: str, region: str, log: Path):
        self.kind, self.root, self.bucket, self.region, self.log = kind, root, bucket, region, log
        self.lock = threading.Lock()

    def record(self, **entry) -> None:
        with self.lock, self.log.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    def object(self, key: str) -> bytes | None:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            return None
        return path.read_bytes()


def handler(cloud: Cloud, role: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # the JSON log is enough
            pass

        def reply(self, status: int, body: bytes = b"", ctype: str = "application/octet-stream") -> None:
            cloud.record(server=role, method=self.command, path=self.path, status=status)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        # ---- metadata ----
        def metadata(self) -> None:
            if cloud.kind == "s3":
                if self.command == "PUT" and self.path == "/latest/api/token":
                    if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                        return self.reply(400)
                    return self.reply(200, IMDS_TOKEN.encode(), "text/plain")
                if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                    return self.reply(401)  # IMDSv2 only: no token, no answer
                if self.path == "/latest/meta-data/iam/security-credentials/":
                    return self.reply(200, ROLE.encode(), "text/plain")
                if self.path == f"/latest/meta-data/iam/security-credentials/{ROLE}":
                    creds = {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": ACCESS_KEY,
                             "SecretAccessKey": SECRET_KEY, "Token": SESSION_TOKEN,
                             "Expiration": "2099-01-01T00:00:00Z"}
                    return self.reply(200, json.dumps(creds).encode(), "application/json")
                return self.reply(404)
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.reply(403)
            if self.path == "/computeMetadata/v1/instance/service-accounts/default/token":
                body = {"access_token": GCS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
                return self.reply(200, json.dumps(body).encode(), "application/json")
            return self.reply(404)

        # ---- bucket API ----
        def bucket(self) -> None:
            if cloud.kind == "s3":
                why = sigv4_ok(self.command, self.path, self.headers, cloud.region)
                if why:
                    cloud.record(server=role, rejected=why)
                    return self.reply(403, why.encode(), "text/plain")
                data = cloud.object(urllib.parse.unquote(self.path.split("?")[0].lstrip("/")))
                return self.reply(200, data) if data is not None else self.reply(404)
            if self.headers.get("Authorization") != f"Bearer {GCS_TOKEN}":
                return self.reply(401)
            path, _, query = self.path.partition("?")
            prefix = f"/storage/v1/b/{cloud.bucket}/o/"
            if not path.startswith(prefix) or "alt=media" not in query.split("&"):
                return self.reply(400)
            data = cloud.object(urllib.parse.unquote(path[len(prefix):]))
            return self.reply(200, data) if data is not None else self.reply(404)

        def do_GET(self):  # noqa: N802
            (self.metadata if role == "metadata" else self.bucket)()

        def do_PUT(self):  # noqa: N802
            if role == "metadata":
                return self.metadata()
            self.reply(405)

    return Handler


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--kind", choices=["s3", "gcs"], required=True)
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", type=Path, required=True)
    a = p.parse_args()
    cloud = Cloud(a.kind, a.root, a.bucket, a.region, a.log)
    servers = [ThreadingHTTPServer(METADATA_ADDR, handler(cloud, "metadata")),
               ThreadingHTTPServer(("127.0.0.1", a.port), handler(cloud, "bucket"))]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("ready", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
