"""Emulator pieces outside the HTTP surface: config, content, connection helpers, CLI, pytest plugin."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

import airflow_provider_eightbyeight.testing as testing_pkg
from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig, FaultRule
from airflow_provider_eightbyeight.testing.content import BLOCK_SIZE, ContentSource

REPO_ROOT = Path(testing_pkg.__file__).resolve().parents[2]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


# -- public API surface --------------------------------------------------------------------------
def test_public_exports():
    assert set(testing_pkg.__all__) == {"EightByEightEmulator", "EmulatorConfig", "Account", "FaultRule"}
    assert FaultRule(kind="latency", delay=1).kind == "latency"


def test_package_does_not_import_airflow():
    code = (
        "import sys, airflow_provider_eightbyeight.testing as t, airflow_provider_eightbyeight.testing.cli, "
        "airflow_provider_eightbyeight.testing.pytest_plugin; "
        "print(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), timeout=60, check=True
    )
    assert out.stdout.strip() == "False"


def test_defaults_match_spec():
    cfg = EmulatorConfig()
    assert cfg.seed == 42 and cfg.objects_per_region == 60
    assert cfg.regions == ("us-west", "us-east", "uk", "ap", "ca")
    assert cfg.accounts == (Account(key="emulator-key", secret="emulator-secret"),)
    assert cfg.accounts[0].regions == ("us-east",) and cfg.accounts[0].products == ("storage",)
    assert cfg.size_range == (1024, 64 * 1024)
    assert cfg.created_start == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert cfg.token_lifetime == 1799 and cfg.bulk_limit_bytes == 2_000_000_000
    assert (cfg.restore_pending_state, cfg.non_available_content_status, cfg.unstable_ties) == ("PENDING", None, True)
    assert (cfg.zip_compression, cfg.delete_unknown, cfg.filter_times) == ("deflate", "404", "epoch_ms")
    lenient = EmulatorConfig.lenient()
    assert (lenient.restore_pending_state, lenient.zip_compression, lenient.bulk_limit_bytes) == (
        "ARCHIVED",
        "stored",
        2 * 1024**3,
    )
    assert (cfg.presign_shape, cfg.limit_over_max, cfg.total_mode) == ("url", "error", "records")
    assert cfg.api_versions == ("v3",) and cfg.strict is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size_range": (10, 5)},
        {"archived_fraction": 1.5},
        {"archived_fraction": 0.6, "revoked_fraction": 0.6},
        {"restore_pending_state": "AVAILABLE"},
        {"limit_over_max": "ignore"},
        {"total_mode": "bytes"},
        {"presign_shape": "xml"},
        {"non_available_content_status": 500},
        {"regions": ()},
        {"accounts": ()},
        {"accounts": (Account(key="a", secret="b"), Account(key="a", secret="c"))},
        {
            "created_start": datetime(2026, 2, 1, tzinfo=timezone.utc),
            "created_end": datetime(2026, 1, 1, tzinfo=timezone.utc),
        },
    ],
)
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        EmulatorConfig(**kwargs)


def test_accounts_from_dicts_and_lists():
    cfg = EmulatorConfig(accounts=[{"key": "k", "secret": "s", "regions": ["uk"], "products": ["storage"]}])
    assert cfg.accounts == (Account(key="k", secret="s", regions=("uk",)),)


def test_emulator_refuses_non_loopback_host():
    with pytest.raises(ValueError, match="loopback"):
        EightByEightEmulator(host="0.0.0.0")


def test_base_url_requires_start():
    emu = EightByEightEmulator(EmulatorConfig(objects_per_region=0))
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    with emu:
        assert emu.base_url == f"http://127.0.0.1:{emu.port}"
        assert emu.token_url == emu.base_url + "/oauth/v2/token"
    assert not emu.running


def test_fixed_port():
    with EightByEightEmulator(EmulatorConfig(objects_per_region=0)) as first:
        port = first.port
    with EightByEightEmulator(EmulatorConfig(objects_per_region=0), port=port) as second:
        assert second.base_url.endswith(f":{port}")
        assert requests.get(second.base_url + "/_emulator/health", timeout=10).status_code == 200


def test_connection_helpers():
    acct = Account(key="key/with:odd@chars", secret="p@ss:word/+")
    with EightByEightEmulator(EmulatorConfig(objects_per_region=0, accounts=(acct,))) as emu:
        uri = emu.connection_uri(max_retries=3, verify_md5=True)
        parts = urlsplit(uri)
        assert parts.scheme == "eightbyeight"
        assert unquote(parts.username or "") == acct.key and unquote(parts.password or "") == acct.secret
        query = parse_qs(parts.query)
        assert query == {"api_base_url": [emu.base_url], "max_retries": ["3"], "verify_md5": ["true"]}
        data = json.loads(emu.connection_json(max_retries=3))
        assert data == {
            "conn_type": "eightbyeight",
            "login": acct.key,
            "password": acct.secret,
            "extra": {"api_base_url": emu.base_url, "max_retries": 3},
        }


def test_ground_truth_helpers():
    emu = EightByEightEmulator(EmulatorConfig(objects_per_region=30))
    everything = emu.objects("ap")
    assert len(everything) == 30
    available = emu.objects("ap", states=["AVAILABLE"])
    assert all(o["objectState"] == "AVAILABLE" for o in available)
    assert emu.objects("ap", states="AVAILABLE,ARCHIVED,REVOKED") == everything
    one = everything[0]
    assert emu.get(one["id"]) == one
    assert emu.region_of(one["id"]) == "ap"
    with pytest.raises(KeyError):
        emu.get("nope")
    with pytest.raises(KeyError):
        emu.md5("nope")
    with pytest.raises(ValueError):
        emu.objects("mars")
    with pytest.raises(ValueError):
        emu.add_object("mars")
    with pytest.raises(ValueError):
        emu.add_object("ap", state="SLEEPING")
    changed = emu.set_object_state(one["id"], "archived")
    assert changed["objectState"] == "ARCHIVED" and changed["updatedTime"] > one["updatedTime"]
    with pytest.raises(KeyError):
        emu.set_object_state("nope", "ARCHIVED")


# -- content ------------------------------------------------------------------------------------
def test_content_source_ranges_and_md5():
    src = ContentSource(42, "abc", 3 * BLOCK_SIZE + 123)
    whole = src.read()
    assert len(whole) == src.size
    assert src.md5() == hashlib.md5(whole).hexdigest()
    assert b"".join(src.iter_chunks(chunk_size=1000)) == whole
    assert src.read(70000, 140001) == whole[70000:140001]
    # blocks are rotated so the content is not a plain repetition
    assert whole[:BLOCK_SIZE] != whole[BLOCK_SIZE : 2 * BLOCK_SIZE]
    assert ContentSource(42, "abc", 10).read() == whole[:10]
    assert ContentSource(43, "abc", 10).read() != whole[:10]
    assert ContentSource(42, "abc", 0).read() == b""
    with pytest.raises(ValueError):
        ContentSource(1, "x", -1)


def test_md5_is_lazy_and_cached():
    src = ContentSource(1, "big", 8 * 1024 * 1024)
    assert not src.md5_ready()
    first = src.md5()
    assert src.md5_ready() and src.md5() == first


# -- CLI ----------------------------------------------------------------------------------------
def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_eightbyeight.testing.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )


def read_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    assert result, "the CLI printed nothing in time"
    return result[0]


def test_cli_json_mode_serves_and_stops_on_sigterm():
    proc = start_cli(
        "--json", "--objects", "5", "--seed", "3", "--key", "k1", "--secret", "s1", "--regions", "us-east,uk"
    )
    try:
        info = json.loads(read_line(proc))
        assert info["key"] == "k1" and info["secret"] == "s1" and info["regions"] == ["us-east", "uk"]
        assert info["token_url"] == info["base_url"] + "/oauth/v2/token"
        assert requests.get(info["base_url"] + "/_emulator/health", timeout=10).json() == {"status": "ok"}
        token = requests.post(
            info["token_url"], auth=("k1", "s1"), data={"grant_type": "client_credentials"}, timeout=10
        ).json()["access_token"]
        objects = requests.get(
            info["base_url"] + "/storage/uk/v3/objects",
            headers={"Authorization": f"Bearer {token}"},
            params={"filter": "objectState=in=(AVAILABLE,ARCHIVED,REVOKED)"},
            timeout=10,
        ).json()
        assert objects["total"] == 5
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
        assert proc.returncode == 0


def test_cli_text_mode_and_sigint():
    proc = start_cli("--objects", "1", "--token-lifetime", "60")
    try:
        lines = [read_line(proc)]
        while lines[-1].strip() != "Ready." and len(lines) < 20:
            lines.append(read_line(proc))
        text = "".join(lines)
        assert "Base URL:" in text and "Token URL:" in text and "Key:" in text and "emulator-key" in text
        assert "Created:   " in text  # the seeded objects' createdTime window
        assert lines[-1].strip() == "Ready." and len(lines) == 9
        base = next(line.split()[-1] for line in lines if line.startswith("Base URL:"))
        body = requests.post(
            base + "/oauth/v2/token", auth=("emulator-key", "emulator-secret"),
            data={"grant_type": "client_credentials"}, timeout=10,
        ).json()  # fmt: skip
        assert body["expires_in"] == "60"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
        assert proc.returncode == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_cli_refuses_non_loopback_host(host):
    proc = start_cli("--host", host)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "loopback" in err


def test_cli_main_in_process_parses_dates(monkeypatch):
    from airflow_provider_eightbyeight.testing import cli

    args = cli.build_parser().parse_args(
        ["--created-start", "2026-01-01", "--created-end", "2026-01-02T12:00:00Z", "--size-min", "5", "--size-max", "9"]
    )
    assert args.created_start == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert args.created_end == datetime(2026, 1, 2, 12, tzinfo=timezone.utc)
    assert (args.size_min, args.size_max) == (5, 9)
    with pytest.raises(SystemExit):
        cli.main(["--size-min", "10", "--size-max", "1"])


# -- pytest plugin ------------------------------------------------------------------------------
def test_pytest_plugin_fixtures(tmp_path):
    test_file = tmp_path / "test_plugin_usage.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import json, os
            import pytest
            import requests
            from airflow_provider_eightbyeight.testing import EmulatorConfig

            @pytest.fixture
            def eightbyeight_emulator_config():
                return EmulatorConfig(seed=1, objects_per_region=4)

            @pytest.fixture
            def eightbyeight_conn_extra():
                return {"max_retries": 2}

            def test_fixtures(eightbyeight_emulator, eightbyeight_conn):
                assert eightbyeight_conn == "eightbyeight_default"
                conn = json.loads(os.environ["AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT"])
                assert conn["extra"] == {"api_base_url": eightbyeight_emulator.base_url, "max_retries": 2}
                assert len(eightbyeight_emulator.objects("us-east")) == 4
                resp = requests.get(eightbyeight_emulator.base_url + "/_emulator/health", timeout=10)
                assert resp.status_code == 200
            """
        )
    )
    env = subprocess_env()
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "airflow_provider_eightbyeight.testing.pytest_plugin",
         "-p", "no:cacheprovider", str(test_file)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout


def test_start_time_is_fast():
    start = time.monotonic()
    with EightByEightEmulator(EmulatorConfig(objects_per_region=200)):
        pass
    assert time.monotonic() - start < 3
