"""
The emulator's command line (``eightbyeight-emulator`` / ``python -m airflow_provider_eightbyeight.testing``):
seeded data dated around now (``--days``), defaults shown in ``--help``, and the ``add`` command that adds
objects to a running emulator over its admin API. Real HTTP throughout: emulators run in-process or as a
subprocess on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

import airflow_provider_eightbyeight.testing as testing_pkg
from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig
from tests.conftest import free_port

UTC = timezone.utc
REPO_ROOT = Path(testing_pkg.__file__).resolve().parents[2]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_cli(*args: str, module: str = "airflow_provider_eightbyeight.testing.cli") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )


def read_line(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    assert result and result[0], f"the CLI printed nothing in time (exit code {proc.poll()})"
    return result[0]


def stop_cli(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == 0


def admin_objects(base_url: str, region: str) -> list[dict[str, Any]]:
    resp = requests.get(f"{base_url}/_emulator/objects", params={"region": region}, timeout=10)
    resp.raise_for_status()
    return resp.json()


def created(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["createdTime"]).replace(tzinfo=UTC)


def midnight(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``cli.main(argv)`` in-process: (exit code, stdout, stderr); argparse's exits are caught."""
    from airflow_provider_eightbyeight.testing import cli

    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def emu() -> Iterator[EightByEightEmulator]:
    config = EmulatorConfig(seed=5, objects_per_region=2, accounts=(Account(regions=("us-east", "uk")),))
    with EightByEightEmulator(config) as emulator:
        yield emulator


# -- 1. seeded data dated around now ------------------------------------------------------------------------
def test_recent_window_is_the_last_days_and_today_up_to_now():
    from airflow_provider_eightbyeight.testing.config import recent_window

    now = datetime(2026, 12, 4, 13, 16, 24, tzinfo=UTC)
    assert recent_window(7, now=now) == (datetime(2026, 11, 27, tzinfo=UTC), now)
    assert recent_window(1, now=now) == (datetime(2026, 12, 3, tzinfo=UTC), now)
    assert recent_window(0, now=now) == (datetime(2026, 12, 4, tzinfo=UTC), now)
    assert recent_window(2, now=datetime(2026, 12, 4, 1, 30)) == (  # naive = UTC
        datetime(2026, 12, 2, tzinfo=UTC),
        datetime(2026, 12, 4, 1, 30, tzinfo=UTC),
    )
    start, end = recent_window(3)
    real_now = datetime.now(UTC)
    assert abs((real_now - end).total_seconds()) < 5 and end.microsecond == 0
    assert start == midnight(end) - timedelta(days=3)
    with pytest.raises(ValueError, match="days must be >= 0"):
        recent_window(-1)


def test_emulator_config_keeps_its_fixed_deterministic_window():
    """Python users (and this suite) get the fixed 2026-11-01..08 window: same seed, same data, any day."""
    config = EmulatorConfig()
    assert (config.created_start, config.created_end) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 8, tzinfo=UTC),
    )


def test_a_recent_window_seeds_the_same_data_for_one_seed_and_window():
    from airflow_provider_eightbyeight.testing.config import recent_window

    start, end = recent_window(5, now=datetime(2026, 12, 4, 9, 0, tzinfo=UTC))
    seen = []
    for _ in range(2):
        config = EmulatorConfig(seed=9, objects_per_region=40, created_start=start, created_end=end)
        with EightByEightEmulator(config) as emulator:
            seen.append(admin_objects(emulator.base_url, "us-east"))
    assert seen[0] == seen[1] and len(seen[0]) == 40
    assert all(start <= created(o) <= end for o in seen[0])


def test_cli_seeds_objects_around_now_by_default():
    """Unpausing a daily DAG runs it for yesterday: yesterday (and today, up to now) must hold objects."""
    proc = start_cli("--json", "--objects", "120", "--seed", "3")
    try:
        info = json.loads(read_line(proc))
        now = datetime.now(UTC)
        yesterday = midnight(now) - timedelta(days=1)
        start = datetime.fromisoformat(info["created_start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(info["created_end"].replace("Z", "+00:00"))
        assert start == midnight(now) - timedelta(days=7)  # the default: --days 7
        assert abs((now - end).total_seconds()) < 60
        objects = admin_objects(info["base_url"], "us-east")
        assert len(objects) == 120
        assert all(start <= created(o) <= end for o in objects)
        assert any(yesterday <= created(o) < midnight(now) for o in objects), "no object created yesterday"
    finally:
        stop_cli(proc)


def test_cli_days_sets_the_window_and_prints_it():
    proc = start_cli("--days", "1", "--objects", "60", "--seed", "4")
    try:
        lines = []
        while not lines or lines[-1].strip() != "Ready.":
            lines.append(read_line(proc))
        text = "".join(lines)
        base = next(line.split()[-1] for line in lines if line.startswith("Base URL:"))
        now = datetime.now(UTC)
        yesterday = midnight(now) - timedelta(days=1)
        assert f"Created:   {yesterday:%Y-%m-%dT%H:%M:%SZ} .. " in text
        objects = admin_objects(base, "us-east")
        assert all(yesterday <= created(o) <= now for o in objects)
        assert any(created(o) < midnight(now) for o in objects)
    finally:
        stop_cli(proc)


def test_cli_explicit_dates_and_days_build_the_config():
    from airflow_provider_eightbyeight.testing import cli

    parser = cli.build_parser()
    fixed = cli.build_config(parser.parse_args(["--created-start", "2026-11-01", "--created-end", "2026-11-08"]))
    assert (fixed.created_start, fixed.created_end) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 8, tzinfo=UTC),
    )
    ending = cli.build_config(parser.parse_args(["--created-end", "2026-11-08T12:00:00Z", "--days", "2"]))
    assert (ending.created_start, ending.created_end) == (
        datetime(2026, 11, 6, tzinfo=UTC),
        datetime(2026, 11, 8, 12, tzinfo=UTC),
    )
    from_start = cli.build_config(parser.parse_args(["--created-start", "2026-12-01"]))
    assert from_start.created_start == datetime(2026, 12, 1, tzinfo=UTC)
    assert abs((datetime.now(UTC) - from_start.created_end).total_seconds()) < 60


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--days", "3", "--created-start", "2026-11-01"], "--days and --created-start"),
        (["--days", "-1"], "--days must be >= 0"),
        (["--created-start", "2999-01-01"], "--created-start 2999-01-01T00:00:00Z is after --created-end"),
    ],
)
def test_cli_window_errors(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err


# -- 2. --help shows every default --------------------------------------------------------------------------
def option_blocks(help_text: str) -> dict[str, str]:
    """The help of each option: ``{"--port": "--port PORT  port to ... (default: 0)", ...}``."""
    blocks: dict[str, str] = {}
    current: list[str] = []
    for line in [*help_text.splitlines(), ""]:
        if line.startswith("  -") or not line.strip() or not line.startswith(" "):
            if current:
                name = current[0].split()[0].rstrip(",")
                blocks[name] = " ".join(part.strip() for part in current)
            current = [line] if line.startswith("  -") else []
        elif current:
            current.append(line)
    return blocks


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Help lines wide enough that argparse does not break values such as ``us-east`` across lines."""
    monkeypatch.setenv("COLUMNS", "250")


@pytest.mark.parametrize("command", [[], ["add"]], ids=["start", "add"])
def test_help_shows_the_default_of_every_option(capsys, wide, command):
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    blocks = option_blocks(out)
    assert "--json" in blocks and len(blocks) > 5
    missing = [b for name, b in blocks.items() if name != "-h" and "(default:" not in b and "(required)" not in b]
    assert not missing, f"options without their default in --help: {missing}"


def test_start_help_names_the_defaults_and_the_add_command(capsys, wide):
    _, out, _ = run_cli(capsys, "--help")
    blocks = option_blocks(out)
    assert "(default: 127.0.0.1)" in blocks["--host"]
    assert "(default: 0" in blocks["--port"]
    assert "(default: 42)" in blocks["--seed"]
    assert "(default: 60)" in blocks["--objects"]
    assert "(default: us-east)" in blocks["--regions"]
    assert "(default: 7)" in blocks["--days"]
    assert "(default:" in blocks["--created-start"] and "--days" in blocks["--created-start"]
    assert "(default: now)" in blocks["--created-end"]
    assert "(default: False)" in blocks["--tls"]
    assert "eightbyeight-emulator add" in out


def test_add_help_names_the_defaults(capsys, wide):
    _, out, _ = run_cli(capsys, "add", "--help")
    blocks = option_blocks(out)
    assert "(required)" in blocks["--url"]
    assert "(default: 1)" in blocks["--count"]
    assert "(default: callrecording)" in blocks["--type"]
    assert "(default: AVAILABLE)" in blocks["--state"]
    assert "(default:" in blocks["--region"] and "first region" in blocks["--region"]
    assert "(default:" in blocks["--created"] and "now" in blocks["--created"]


# -- 3. `add`: objects into a running emulator --------------------------------------------------------------
def test_add_objects_to_a_running_emulator(capsys, emu):
    before = {o["id"] for o in admin_objects(emu.base_url, "uk")}
    code, out, err = run_cli(
        capsys,
        "add",
        "--url",
        emu.base_url,
        "--count",
        "3",
        "--type",
        "callcenterrecording",
        "--region",
        "uk",
        "--created",
        "2026-12-01T10:00:00Z",
        "--size",
        "4096",
    )
    assert code == 0, err
    after = {o["id"]: o for o in admin_objects(emu.base_url, "uk")}
    new = [after[i] for i in set(after) - before]
    assert len(new) == 3
    assert {(o["type"], o["createdTime"], o["storedBytes"], o["objectState"]) for o in new} == {
        ("callcenterrecording", "2026-12-01T10:00:00", 4096, "AVAILABLE")
    }
    assert "Added 3 objects to region uk" in out
    assert all(o["id"] in out for o in new)
    # the account sees them through the CSS API
    token = requests.post(
        emu.token_url, auth=(emu.key, emu.secret), data={"grant_type": "client_credentials"}, timeout=10
    ).json()["access_token"]
    found = requests.get(
        f"{emu.base_url}/storage/uk/v3/objects",
        headers={"Authorization": f"Bearer {token}"},
        params={"filter": "type==callcenterrecording"},
        timeout=10,
    ).json()
    assert {o["id"] for o in new} <= {o["id"] for o in found["content"]}


def test_add_defaults_one_callrecording_now_in_the_first_region(capsys, emu):
    code, out, err = run_cli(capsys, "add", "--url", emu.base_url + "/", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["region"] == "us-east" and len(answer["objects"]) == 1
    item = answer["objects"][0]
    assert item["type"] == "callrecording" and item["objectState"] == "AVAILABLE"
    assert abs((created(item) - datetime.now(UTC)).total_seconds()) < 60  # the emulated now (clock not moved)
    assert item["id"] in {o["id"] for o in admin_objects(emu.base_url, "us-east")}


def test_add_accepts_the_admin_url_the_emulator_prints(capsys, emu):
    code, _, err = run_cli(capsys, "add", "--url", f"{emu.base_url}/_emulator/info", "--state", "archived")
    assert code == 0, err
    assert any(o["objectState"] == "ARCHIVED" for o in admin_objects(emu.base_url, "us-east"))


ADD_ARGS = ("--count", "2", "--type", "voicemail", "--region", "uk", "--json")


def test_python_m_package_starts_the_emulator_and_adds_objects():
    """``python -m airflow_provider_eightbyeight.testing [options]`` starts it, ``... add`` adds to it."""
    proc = start_cli(
        "--json", "--objects", "1", "--regions", "us-east,uk", module="airflow_provider_eightbyeight.testing"
    )
    try:
        info = json.loads(read_line(proc))
        added = subprocess.run(
            [
                sys.executable,
                "-m",
                "airflow_provider_eightbyeight.testing",
                "add",
                "--url",
                info["base_url"],
                *ADD_ARGS,
            ],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            timeout=60,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        ids = {o["id"] for o in json.loads(added.stdout)["objects"]}
        assert len(ids) == 2
        assert ids <= {o["id"] for o in admin_objects(info["base_url"], "uk") if o["type"] == "voicemail"}
    finally:
        stop_cli(proc)


def test_add_to_an_unreachable_url_says_how_to_start_the_emulator(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run_cli(capsys, "add", "--url", url)
    assert code == 1
    assert f"cannot connect to the emulator at {url}" in err
    assert "python -m airflow_provider_eightbyeight.testing" in err and "--url" in err


def test_add_to_something_that_is_not_the_emulator(capsys, emu):
    code, _, err = run_cli(capsys, "add", "--url", f"{emu.base_url}/somewhere")
    assert code == 1
    assert "is not the emulator's base URL" in err and "Base URL:" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--type", "podcast"], "unknown object type 'podcast'; known types: agentnotes, callcenterrecording"),
        (["--region", "mars"], "region 'mars' is not one of the regions of the emulator's account"),
        (["--region", "us-west"], "us-east, uk"),
        (["--count", "0"], "--count must be >= 1"),
        (["--size", "-5"], "--size must be >= 0"),
        (["--state", "GONE"], "unknown object state 'GONE'; expected one of"),
        (["--created", "yesterday"], "not an ISO date/time: 'yesterday'"),
    ],
)
def test_add_refuses_bad_input_naming_the_fix(capsys, emu, argv, message):
    before = len(admin_objects(emu.base_url, "us-east")) + len(admin_objects(emu.base_url, "uk"))
    code, _, err = run_cli(capsys, "add", "--url", emu.base_url, *argv)
    assert code == 2
    assert message in err
    assert len(admin_objects(emu.base_url, "us-east")) + len(admin_objects(emu.base_url, "uk")) == before


@pytest.mark.parametrize("url", ["127.0.0.1:8088", "ftp://127.0.0.1:8088", "http://"])
def test_add_refuses_a_malformed_url(capsys, url):
    code, _, err = run_cli(capsys, "add", "--url", url)
    assert code == 2
    assert f"--url {url!r} is not an http:// or https:// URL" in err


def test_add_over_https_needs_the_emulators_ca(capsys):
    with EightByEightEmulator(EmulatorConfig(objects_per_region=0, tls=True)) as tls_emu:
        code, _, err = run_cli(capsys, "add", "--url", tls_emu.base_url)
        assert code == 1
        assert "--ca-bundle" in err and "CA:" in err
        code, _, err = run_cli(capsys, "add", "--url", tls_emu.base_url, "--ca-bundle", str(tls_emu.ca_path))
        assert code == 0, err
        assert len(tls_emu.objects("us-east")) == 1
        plain = tls_emu.base_url.replace("https://", "http://")
        code, _, err = run_cli(capsys, "add", "--url", plain, "--timeout", "3")
        assert code == 1
        assert "https://" in err
