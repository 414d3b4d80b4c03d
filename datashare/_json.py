"""JSON read from files a user or an attacker may have written (packages, the audit log)."""

from __future__ import annotations

import json
from typing import Any


def loads(data: str | bytes) -> Any:
    """:func:`json.loads`, with a document nested too deeply for the parser (``[[[[...``)
    raised as the ``ValueError`` of any other malformed JSON, so that callers name the file
    instead of crashing with a ``RecursionError``."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
