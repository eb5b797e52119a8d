"""Plants a known mistake in shipshape's OpenAPI document, one per file, so scripts/api-fuzz.sh can
prove that the check notices when the document and the server disagree again.

    python3 mutations.py served.json OUT_DIR
    # writes OUT_DIR/<name>.json; prints "<name>\t<operations>" lines: the operations to test,
    # comma-separated
"""

import copy
import json
import sys
from pathlib import Path


def whitespace_name(doc):
    """The document allows a name of whitespace only, which the server refuses (blank once trimmed)."""
    doc["components"]["schemas"]["NewUserJson"]["properties"]["name"] = {
        "type": "string",
        "pattern": "^[ \\t\\u3000]+$",
    }


def patch_body_required(doc):
    """A PATCH without a body is refused by the document, yet accepted by the server."""
    doc["paths"]["/api/users/{id}/"]["patch"]["requestBody"]["required"] = True


def offset_maximum(doc):
    """The document caps offset at 10; the server accepts more."""
    for param in doc["paths"]["/api/users/"]["get"]["parameters"]:
        if param["name"] == "offset":
            param["schema"]["maximum"] = 10


def health_page_json_only(doc):
    """/ht/ documented as JSON only, while it answers HTML by default."""
    for response in doc["paths"]["/ht/"]["get"]["responses"].values():
        response["content"].pop("text/html; charset=utf-8")


# Each mistake and the operations that show it (testing only those keeps the run short and its
# generated data independent of the rest; a PATCH needs a POST before it to find a user).
MUTATIONS = [
    (whitespace_name, "POST /api/users/"),
    (patch_body_required, "POST /api/users/,PATCH /api/users/{id}/"),
    (offset_maximum, "GET /api/users/"),
    (health_page_json_only, "GET /ht/"),
]


def main(served, out_dir):
    doc = json.loads(Path(served).read_text())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for mutate, operation in MUTATIONS:
        mutated = copy.deepcopy(doc)
        mutate(mutated)
        (out / f"{mutate.__name__}.json").write_text(json.dumps(mutated))
        print(f"{mutate.__name__}\t{operation}")


if __name__ == "__main__":
    main(*sys.argv[1:])
