"""
Run the 8x8 emulator in its own process (so it does not share the client's GIL).

``python -m benchmarks.emulator_server '<json spec>'`` builds an :class:`EmulatorConfig` from the spec,
starts the emulator on 127.0.0.1, adds the extra objects, computes every object's MD5 up front (8x8
stores checksums; computing them lazily would bill the first listing for it), prints one line
``BENCH-RESULT {"base_url": ..., "token_url": ..., "key": ..., "secret": ..., "pid": ...}`` and serves
until SIGTERM / SIGINT.

Spec keys: ``seed``, ``objects`` (objects in region us-east), ``size_range`` ([min, max] bytes),
``extra_sizes`` (sizes of objects added on top), ``bulk_delay`` (seconds), ``prewarm_md5`` (default true),
``latency`` (seconds added to every API request, as a network round trip would; default 0).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any

from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig, FaultRule
from benchmarks.common import REGION, emit


def build(spec: dict[str, Any]) -> EightByEightEmulator:
    """The configured (not yet started) emulator."""
    low, high = spec.get("size_range", (50_000, 1_000_000))
    config = EmulatorConfig(
        seed=int(spec.get("seed", 1234)),
        objects_per_region=int(spec.get("objects", 0)),
        regions=(REGION,),
        size_range=(int(low), int(high)),
        archived_fraction=0.0,
        revoked_fraction=0.0,
        accounts=(Account(regions=(REGION,)),),
        bulk_delay=float(spec.get("bulk_delay", 0.5)),
        token_lifetime=1799,
    )
    return EightByEightEmulator(config, port=int(spec.get("port", 0)))


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0]) if argv else {}
    started = time.monotonic()
    emu = build(spec).start()
    for size in spec.get("extra_sizes", []):
        emu.add_object(REGION, size=int(size), type="screenrecording")
    if float(spec.get("latency", 0)) > 0:
        emu.add_fault(FaultRule(kind="latency", route="*", delay=float(spec["latency"])))
    if spec.get("prewarm_md5", True):
        for record in emu.store.all_objects(REGION):
            record.content.md5()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    emit(
        {
            "base_url": emu.base_url,
            "token_url": emu.token_url,
            "key": emu.key,
            "secret": emu.secret,
            "pid": os.getpid(),
            "connection_uri": emu.connection_uri(discovery_region=REGION),
            "startup_seconds": round(time.monotonic() - started, 2),
        }
    )
    while not stop.wait(0.5):
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
