"""The JSON Schema of agreement files, generated from the model and shipped for editors.

``agreement.schema.json`` sits beside this module, so it ships in the wheel. Point an
editor's YAML language server at it (``# yaml-language-server: $schema=...``) to get
autocompletion and checks while writing an agreement. The suite checks that the shipped
file equals a fresh generation; regenerate it after changing the model with
``python -m datashare.agreement.schema``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datashare.agreement.model import Agreement

SCHEMA_PATH = Path(__file__).with_name("agreement.schema.json")
"""The shipped schema file."""


def agreement_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an agreement or template file."""
    schema = Agreement.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "datashare-agreement.schema.json",
        **schema,
        "title": "datashare agreement",
    }


def schema_text() -> str:
    """The schema as the exact text of the shipped file."""
    return json.dumps(agreement_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Write the schema file (the shipped one by default)."""
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_schema())
