"""``eightbyeight-emulator``: run the 8x8 CSS emulator from the command line, or add objects to a running one.

Example::

    eightbyeight-emulator --port 8088 --objects 200 --regions us-east,uk
    python -m airflow_provider_eightbyeight.testing --json --days 3
    python -m airflow_provider_eightbyeight.testing add --url http://127.0.0.1:8088 --count 3 --type voicemail

Starting prints the base URL, token URL, key, secret, regions and the seeded objects' createdTime window (or one
JSON line with ``--json``), then ``Ready.``, and serves until SIGINT/SIGTERM (exit code 0). The seeded objects
are dated around now: the ``--days`` (default 7) whole UTC days before today and today up to now, unless
``--created-start``/``--created-end`` say otherwise. ``--tls`` serves HTTPS with a throwaway CA and prints its
path (``CA:`` line, JSON key ``ca_path``; ``null`` without ``--tls``).

``add`` adds objects to a running emulator through its admin API (``/_emulator/objects``) and prints them; it
exits 2 for bad input (naming the fix) and 1 when the emulator cannot be reached.
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

from airflow_provider_eightbyeight.testing.admin_client import AdminClient, EmulatorClientError
from airflow_provider_eightbyeight.testing.config import (
    DEFAULT_RECENT_DAYS,
    OBJECT_STATES,
    Account,
    EmulatorConfig,
    recent_window,
)
from airflow_provider_eightbyeight.testing.emulator import EightByEightEmulator, is_loopback
from airflow_provider_eightbyeight.testing.seed import MIME_TYPES

PROG = "eightbyeight-emulator"
#: The object types ``add --type`` accepts (those the emulator knows a MIME type and names for).
OBJECT_TYPES = tuple(sorted(MIME_TYPES))

START_EPILOG = f"""\
Add objects to a running emulator (see `{PROG} add --help`):
  {PROG} add --url http://127.0.0.1:PORT [--count N] [--type TYPE] [--region REGION] [--created ISO]
`python -m airflow_provider_eightbyeight.testing` runs the same commands.
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default; help that states its own ``(default: ...)`` or ``(required)`` is kept."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "(default:" in text or "(required)" in text:
            return text
        return super()._get_help_string(action)


def _date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r} (e.g. 2026-12-01T10:00:00Z)") from exc
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _regions(text: str) -> tuple[str, ...]:
    items = tuple(r.strip() for r in text.split(",") if r.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of regions")
    return items


def _object_type(text: str) -> str:
    known = {t.lower(): t for t in OBJECT_TYPES}
    try:
        return known[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown object type {text!r}; known types: {', '.join(OBJECT_TYPES)}"
        ) from None


def _object_state(text: str) -> str:
    state = text.strip().upper()
    if state not in OBJECT_STATES:
        raise argparse.ArgumentTypeError(f"unknown object state {text!r}; expected one of {', '.join(OBJECT_STATES)}")
    return state


def _stamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the start command (``eightbyeight-emulator [options]``)."""
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Local emulator of the 8x8 Cloud Storage Service API (loopback only).",
        epilog=START_EPILOG,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 = a free port, printed when ready)")
    parser.add_argument("--objects", type=int, default=defaults.objects_per_region, help="seeded objects per region")
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="seed of the data (one seed and window: the same objects)"
    )
    parser.add_argument("--key", default=defaults.accounts[0].key, help="API key of the account")
    parser.add_argument("--secret", default=defaults.accounts[0].secret, help="secret of the account")
    parser.add_argument(
        "--regions",
        type=_regions,
        default=defaults.accounts[0].regions,
        help=f"the account's regions, e.g. us-east,uk (default: {','.join(defaults.accounts[0].regions)})",
    )
    parser.add_argument("--size-min", type=int, default=defaults.size_range[0], help="smallest object size (bytes)")
    parser.add_argument("--size-max", type=int, default=defaults.size_range[1], help="largest object size (bytes)")
    parser.add_argument("--token-lifetime", type=int, default=defaults.token_lifetime, help="seconds a token is valid")
    parser.add_argument(
        "--bulk-delay", type=float, default=defaults.bulk_delay, help="seconds until a bulk zip is DONE"
    )
    parser.add_argument(
        "--restore-delay", type=float, default=defaults.restore_delay, help="seconds until a restore is AVAILABLE"
    )
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        metavar="N",
        help="seeded objects are created in the N whole UTC days before today and today up to now, so "
        f"yesterday's and today's data intervals hold objects (default: {DEFAULT_RECENT_DAYS})",
    )
    parser.add_argument(
        "--created-start",
        type=_date,
        default=None,
        metavar="ISO",
        help="earliest createdTime of the seeded objects, ISO date/time, naive = UTC; instead of --days "
        "(default: UTC midnight --days days before the day of --created-end)",
    )
    parser.add_argument(
        "--created-end",
        type=_date,
        default=None,
        metavar="ISO",
        help="latest createdTime of the seeded objects, ISO date/time, naive = UTC (default: now)",
    )
    parser.add_argument("--strict", action="store_true", help="strict validation (see EmulatorConfig.strict)")
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="the kinder readings of the contract (EmulatorConfig.lenient(); without it, the hardest reading)",
    )
    parser.add_argument("--log-requests", action="store_true", help="log each request to stderr")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a throwaway CA made at start; its path is printed (CA: / ca_path)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line when ready")
    return parser


def created_window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    """
    The seeded objects' createdTime window from ``--days``, ``--created-start`` and ``--created-end``.

    :param args: Parsed arguments of :func:`build_parser`.
    :return: ``(created_start, created_end)``, timezone-aware.
    :raises ValueError: ``--days`` with ``--created-start``, a negative ``--days``, or an empty window.
    """
    if args.days is not None and args.created_start is not None:
        raise ValueError("--days and --created-start both set the window's start; give one of them")
    days = DEFAULT_RECENT_DAYS if args.days is None else args.days
    if days < 0:
        raise ValueError(f"--days must be >= 0 (whole days before today), got {days}")
    start, end = recent_window(days, now=args.created_end)
    if args.created_start is not None:
        start = args.created_start
    if end < start:
        end_text = _stamp(end) + (" (default: now)" if args.created_end is None else "")
        raise ValueError(
            f"--created-start {_stamp(start)} is after --created-end {end_text}; pass an earlier --created-start "
            "or a later --created-end"
        )
    return start, end


def build_config(args: argparse.Namespace) -> EmulatorConfig:
    """
    The emulator's configuration from parsed start arguments.

    :param args: Parsed arguments of :func:`build_parser`.
    :raises ValueError: Inconsistent arguments (the message names them).
    """
    regions = tuple(EmulatorConfig().regions)
    unknown = [r for r in args.regions if r not in regions]
    if unknown:
        regions = regions + tuple(unknown)
    created_start, created_end = created_window(args)
    factory = EmulatorConfig.lenient if args.lenient else EmulatorConfig
    return factory(
        seed=args.seed,
        objects_per_region=args.objects,
        regions=regions,
        accounts=(Account(key=args.key, secret=args.secret, regions=args.regions),),
        size_range=(args.size_min, args.size_max),
        created_start=created_start,
        created_end=created_end,
        token_lifetime=args.token_lifetime,
        bulk_delay=args.bulk_delay,
        restore_delay=args.restore_delay,
        strict=args.strict,
        log_requests=args.log_requests,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """
    ``add ...`` adds objects to a running emulator; anything else starts one (until SIGINT/SIGTERM).

    :param argv: The arguments (default ``sys.argv[1:]``).
    :return: The exit code: 0, 1 (cannot listen / cannot reach the emulator) or 2 (bad arguments; raised as
        ``SystemExit`` by argparse).
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["add"]:
        return add_main(args_list[1:])
    return serve(args_list)


def serve(argv: Sequence[str]) -> int:
    """
    Start an emulator and serve until SIGINT/SIGTERM.

    :param argv: The start command's arguments.
    :return: The exit code (2 for bad arguments, raised as ``SystemExit``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host {args.host!r} is not a loopback address; the emulator only listens on 127.0.0.1/::1")
    try:
        config = build_config(args)
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
        print(f"{PROG}: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        info: dict[str, Any] = {
            "base_url": emulator.base_url,
            "token_url": emulator.token_url,
            "key": emulator.key,
            "secret": emulator.secret,
            "regions": list(emulator.regions),
            "ca_path": emulator.ca_path,
            "created_start": _stamp(config.created_start),
            "created_end": _stamp(config.created_end),
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
            print(f"Created:   {info['created_start']} .. {info['created_end']}  (createdTime of the seeded objects)")
            if info["ca_path"]:
                print(f"CA:        {info['ca_path']}  (trust it: REQUESTS_CA_BUNDLE={info['ca_path']})")
            print("Ready.")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


# -- add -------------------------------------------------------------------------------------------------------
def build_add_parser() -> argparse.ArgumentParser:
    """The argument parser of ``eightbyeight-emulator add``."""
    parser = argparse.ArgumentParser(
        prog=f"{PROG} add",
        description="Add objects to a running 8x8 CSS emulator (through its admin API, /_emulator/objects) and\n"
        "print them. They appear at once, in one batch: a search sees all of them or none.",
        epilog=f"Example:\n  {PROG} add --url http://127.0.0.1:8088 --count 3 --type callrecording --region us-east",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--url",
        required=True,
        help="the running emulator's base URL, as it prints it ('Base URL:', or 'base_url' with --json; "
        "its '.../_emulator/...' admin URL works too) (required)",
    )
    parser.add_argument("--count", type=int, default=1, help="how many objects to add")
    parser.add_argument(
        "--type",
        type=_object_type,
        default="callrecording",
        metavar="TYPE",
        help=f"their object type, one of {', '.join(OBJECT_TYPES)}",
    )
    parser.add_argument(
        "--region",
        default=None,
        help="the region to add them to, one of the account's (default: the first region of the emulator's account)",
    )
    parser.add_argument(
        "--created",
        type=_date,
        default=None,
        metavar="ISO",
        help="their createdTime, ISO date/time, naive = UTC (default: now, by the emulator's clock)",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help="their size in bytes (default: random, between the emulator's --size-min and --size-max)",
    )
    parser.add_argument(
        "--state",
        type=_object_state,
        default="AVAILABLE",
        help=f"their objectState, one of {', '.join(OBJECT_STATES)}",
    )
    parser.add_argument(
        "--ca-bundle",
        default=None,
        metavar="PEM",
        help="CA file to trust for an https:// URL: the 'CA:' path an emulator started with --tls prints "
        "(default: the system's CAs)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the emulator")
    parser.add_argument("--json", action="store_true", help="print the created objects as one JSON line")
    return parser


def add_main(argv: Sequence[str]) -> int:
    """
    Add objects to a running emulator and print them.

    :param argv: The ``add`` command's arguments.
    :return: 0, or 1 when the emulator cannot be reached or refuses (bad input exits 2 through ``SystemExit``).
    """
    parser = build_add_parser()
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count must be >= 1, got {args.count}")
    if args.size is not None and args.size < 0:
        parser.error(f"--size must be >= 0 (bytes), got {args.size}")
    if args.timeout <= 0:
        parser.error(f"--timeout must be > 0 seconds, got {args.timeout:g}")
    try:
        client = AdminClient(args.url, ca_bundle=args.ca_bundle, timeout=args.timeout)
    except ValueError as exc:
        parser.error(str(exc))
    spec: dict[str, Any] = {"type": args.type, "state": args.state}
    if args.created is not None:
        spec["created"] = round(args.created.timestamp() * 1000)  # epoch ms: no reading of time zones
    if args.size is not None:
        spec["size"] = args.size
    try:
        regions = client.account_regions()
        region = args.region if args.region is not None else (regions[0] if regions else "")
        if region not in regions:
            parser.error(
                f"region {region!r} is not one of the regions of the emulator's account at {client.base_url}: "
                f"{', '.join(regions) or 'none'}; pass one of them with --region, or start the emulator with "
                f"--regions {','.join([*regions, region])}"
            )
        objects = client.add_objects(region, [dict(spec) for _ in range(args.count)])
    except EmulatorClientError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"base_url": client.base_url, "region": region, "objects": objects}))
    else:
        noun = "object" if len(objects) == 1 else "objects"
        print(f"Added {len(objects)} {noun} to region {region} of {client.base_url}:")
        for item in objects:
            print(
                f"  {item.get('id')}  {item.get('type')}  {item.get('objectState')}  {item.get('createdTime')}  "
                f"{item.get('storedBytes')} bytes  {item.get('objectName')}"
            )
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
