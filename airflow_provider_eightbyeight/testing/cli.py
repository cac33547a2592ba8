"""``eightbyeight-emulator``: run the 8x8 CSS emulator from the command line.

Example::

    eightbyeight-emulator --port 8088 --objects 200 --regions us-east,uk
    python -m airflow_provider_eightbyeight.testing.cli --json

Prints the base URL, token URL, key, secret and regions (or one JSON line with ``--json``), then
``Ready.``, and serves until SIGINT/SIGTERM (exit code 0). ``--tls`` serves HTTPS with a throwaway CA
and prints its path (``CA:`` line, JSON key ``ca_path``; ``null`` without ``--tls``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from types import FrameType
from typing import Any

from airflow_provider_eightbyeight.testing.config import Account, EmulatorConfig
from airflow_provider_eightbyeight.testing.emulator import EightByEightEmulator, is_loopback


def _date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _regions(text: str) -> tuple[str, ...]:
    items = tuple(r.strip() for r in text.split(",") if r.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of regions")
    return items


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(
        prog="eightbyeight-emulator",
        description="Local emulator of the 8x8 Cloud Storage Service API (loopback only).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0 = a free port)")
    parser.add_argument("--objects", type=int, default=defaults.objects_per_region, help="seeded objects per region")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--key", default=defaults.accounts[0].key, help="API key of the account")
    parser.add_argument("--secret", default=defaults.accounts[0].secret, help="secret of the account")
    parser.add_argument(
        "--regions",
        type=_regions,
        default=defaults.accounts[0].regions,
        help="the account's regions, e.g. us-east,uk",
    )
    parser.add_argument("--size-min", type=int, default=defaults.size_range[0], help="min object size (bytes)")
    parser.add_argument("--size-max", type=int, default=defaults.size_range[1], help="max object size (bytes)")
    parser.add_argument("--token-lifetime", type=int, default=defaults.token_lifetime, help="seconds")
    parser.add_argument("--bulk-delay", type=float, default=defaults.bulk_delay, help="seconds until a zip is DONE")
    parser.add_argument("--restore-delay", type=float, default=defaults.restore_delay, help="seconds")
    parser.add_argument("--created-start", type=_date, default=defaults.created_start, help="ISO date")
    parser.add_argument("--created-end", type=_date, default=defaults.created_end, help="ISO date")
    parser.add_argument("--strict", action="store_true", help="strict validation (see EmulatorConfig.strict)")
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="the kinder readings of the contract (EmulatorConfig.lenient(); the default is the hardest reading)",
    )
    parser.add_argument("--log-requests", action="store_true", help="log each request to stderr")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a throwaway CA made at start; its path is printed (CA: / ca_path)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line when ready")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; returns the exit code (2 for bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host {args.host!r} is not a loopback address; the emulator only listens on 127.0.0.1/::1")
    regions = tuple(EmulatorConfig().regions)
    unknown = [r for r in args.regions if r not in regions]
    if unknown:
        regions = regions + tuple(unknown)
    try:
        factory = EmulatorConfig.lenient if args.lenient else EmulatorConfig
        config = factory(
            seed=args.seed,
            objects_per_region=args.objects,
            regions=regions,
            accounts=(Account(key=args.key, secret=args.secret, regions=args.regions),),
            size_range=(args.size_min, args.size_max),
            created_start=args.created_start,
            created_end=args.created_end,
            token_lifetime=args.token_lifetime,
            bulk_delay=args.bulk_delay,
            restore_delay=args.restore_delay,
            strict=args.strict,
            log_requests=args.log_requests,
        )
        emulator = EightByEightEmulator(config, port=args.port, host=args.host, tls=args.tls)
    except ValueError as exc:
        parser.error(str(exc))
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        emulator.start()
    except OSError as exc:
        print(f"eightbyeight-emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        info: dict[str, Any] = {
            "base_url": emulator.base_url,
            "token_url": emulator.token_url,
            "key": emulator.key,
            "secret": emulator.secret,
            "regions": list(emulator.regions),
            "ca_path": emulator.ca_path,
        }
        if args.json:
            print(json.dumps(info))
        else:
            print(f"8x8 CSS emulator listening on {info['base_url']}")
            print(f"Base URL:  {info['base_url']}")
            print(f"Token URL: {info['token_url']}")
            print(f"Key:       {info['key']}")
            print(f"Secret:    {info['secret']}")
            print(f"Regions:   {','.join(info['regions'])}")
            print(f"Admin:     {info['base_url']}/_emulator/info")
            if info["ca_path"]:
                print(f"CA:        {info['ca_path']}  (trust it: REQUESTS_CA_BUNDLE={info['ca_path']})")
            print("Ready.")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
