"""Label Studio result JSON for tests: a span region as the label config's Labels control
writes it."""

from __future__ import annotations


def region(rid: str, text: str, start: int, end: int, label: str) -> dict:
    """A `technique` span region over text[start:end]."""
    return {
        "id": rid,
        "from_name": "technique",
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]},
    }
