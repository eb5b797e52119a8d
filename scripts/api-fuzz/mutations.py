"""Plants a known mistake in shipshape's OpenAPI document, one per file, so scripts/api-fuzz.sh can
prove that the check notices when the document and the server disagree again.

    python3 mutations.py served.json OUT_DIR   # writes OUT_DIR/<name>.json, prints the names
"""

import copy
import json
import sys
from pathlib import Path


def name_without_pattern(doc):
    """A whitespace-only name is allowed by the document again, yet refused (blank) by the server."""
    doc["components"]["schemas"]["NewUserJson"]["properties"]["name"]["anyOf"][0].pop("pattern")


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


MUTATIONS = [name_without_pattern, patch_body_required, offset_maximum, health_page_json_only]


def main(served, out_dir):
    doc = json.loads(Path(served).read_text())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for mutate in MUTATIONS:
        mutated = copy.deepcopy(doc)
        mutate(mutated)
        (out / f"{mutate.__name__}.json").write_text(json.dumps(mutated))
        print(mutate.__name__)


if __name__ == "__main__":
    main(*sys.argv[1:])
