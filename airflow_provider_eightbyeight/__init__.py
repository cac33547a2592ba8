"""Apache Airflow provider for the 8x8 Cloud Storage Service (call recordings, transcripts, voicemails...)."""

from __future__ import annotations

__version__ = "0.2.0"

__all__ = ["__version__"]
