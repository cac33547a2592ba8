"""What tests forge in a destination: manifest lines that claim what a run never did."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def forged_copy_line(root: Path, emulator: Any, victim: dict[str, Any], path: str, region: str) -> dict[str, Any]:
    """
    A manifest line claiming that a run wrote and verified ``victim`` at ``path`` (``evidence: written``),
    with the object's true size and MD5, as someone who can read the destination could write it.
    """
    return {
        "id": victim["id"],
        "region": region,
        "source": "forged",
        "destination": (root / path).as_uri(),
        "path": path,
        "size": victim["storedBytes"],
        "md5": emulator.md5(victim["id"]),
        "status": "copied",
        "verified": True,
        "evidence": "written",
        "state": "AVAILABLE",
    }
