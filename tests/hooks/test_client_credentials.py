"""Credentials are read again when 8x8 refuses them, so a rotated secret is picked up (issue 8 #7)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from airflow_provider_eightbyeight.errors import AuthenticationError
from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
from airflow_provider_eightbyeight.hooks.token_cache import TOKEN_CACHE, cache_key
from airflow_provider_eightbyeight.testing import Account, EmulatorConfig, FaultRule

KEY, OLD = "key-rotating", "Old-Secret-Value-0001"
NEW = "New-Secret-Value-0002"
OTHER_KEY, OTHER = "key-second", "Second-Key-Secret-0003"
WRONG = "Wrong-Secret-Value-0004"


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # Every secret of this module is an account secret at start-up, so the suite's secret scan watches for it;
    # NEW and WRONG only become a key's secret (or nobody's) at runtime.
    return EmulatorConfig(
        seed=23,
        objects_per_region=5,
        accounts=(
            Account(key=KEY, secret=OLD),
            Account(key=OTHER_KEY, secret=OTHER),
            Account(key="watch-new", secret=NEW),
            Account(key="watch-wrong", secret=WRONG),
        ),
    )


def rotate(emulator, make_hook, secret: str = NEW, *, connection_secret: str | None = None, **extras):
    """The key's secret is regenerated in Admin Console (old tokens die) and put in the Airflow connection."""
    emulator.store.accounts[KEY] = Account(key=KEY, secret=secret)
    emulator.revoke_tokens()
    make_hook(key=KEY, secret=secret if connection_secret is None else connection_secret, **extras)


def test_a_refused_token_request_reads_the_connection_again(make_hook, emulator):
    hook = make_hook(key=KEY, secret=OLD)
    assert hook.get_regions(refresh=True) == ["us-east"]
    rotate(emulator, make_hook)
    assert hook.get_regions(refresh=True) == ["us-east"]
    assert hook.settings.secret == NEW
    assert emulator.stats()["status_counts"]["401"] == 2  # the dead token, then the old secret


def test_a_second_401_reads_the_connection_again_and_drops_the_refused_token(make_hook, emulator):
    """CSS refuses even a fresh token (the token endpoint still takes the old key): the connection now names
    another key, which the hook switches to; the refused token is not left in the process-wide cache."""
    hook = make_hook(key=KEY, secret=OLD)
    assert hook.get_regions(refresh=True)
    old_key = cache_key(hook.settings.token_url, KEY, OLD)
    make_hook(key=OTHER_KEY, secret=OTHER)  # the connection is edited to use another key
    emulator.add_fault(FaultRule(kind="status", route="regions", status=401, times=2))
    assert hook.get_regions(refresh=True) == ["us-east"]
    assert (hook.settings.api_key, hook.settings.secret) == (OTHER_KEY, OTHER)
    assert hook.stats.token_refreshes_after_401 == 1 and emulator.stats()["faults_injected"]["status"] == 2
    assert TOKEN_CACHE.peek(old_key) is None  # refused twice: no other hook of the old key reuses it
    assert TOKEN_CACHE.peek(cache_key(hook.settings.token_url, OTHER_KEY, OTHER)) is not None


def test_unchanged_credentials_still_fail_after_one_reread(make_hook, emulator):
    hook = make_hook(key=KEY, secret=OLD)
    assert hook.get_regions(refresh=True)
    emulator.store.accounts[KEY] = Account(key=KEY, secret=NEW)  # rotated at 8x8 only
    emulator.revoke_tokens()
    with pytest.raises(AuthenticationError, match="rejected the API key and secret") as caught:
        hook.get_regions(refresh=True)
    assert OLD not in str(caught.value) and NEW not in str(caught.value)
    assert emulator.stats()["token_requests"] == 2  # the first token, then one refused request: no loop


def test_a_rotation_to_a_wrong_secret_fails_without_leaking_either_secret(make_hook, emulator, caplog):
    from airflow.providers.common.compat.sdk import redact

    hook = make_hook(key=KEY, secret=OLD)
    assert hook.get_regions(refresh=True)
    caplog.set_level(logging.DEBUG)
    rotate(emulator, make_hook, connection_secret=WRONG)  # 8x8 has NEW, the connection a typo
    with pytest.raises(AuthenticationError) as caught:
        hook.get_regions(refresh=True)
    text = f"{caught.value!s} {caught.value!r} {caplog.text}"
    assert all(secret not in text for secret in (OLD, NEW, WRONG))
    assert hook.settings.secret == WRONG  # the connection's value is the one in use (and the one refused)
    assert WRONG not in redact(f"secret {WRONG}")  # registered with the masker like the first secret


def test_concurrent_calls_all_survive_a_rotation(make_hook, emulator, monkeypatch):
    """Many threads of one hook hit the rotation at once; the first re-read serves them all."""
    hook = make_hook(key=KEY, secret=OLD, hook_kwargs={"pool_size": 8})
    assert hook.get_regions(refresh=True)
    emulator.add_fault(FaultRule(kind="latency", route="token", delay=0.05))  # token requests overlap
    read_connection = EightByEightHook.get_connection

    def slow_secrets_backend(conn_id: str):  # a Vault-like backend takes a while to answer
        time.sleep(0.05)
        return read_connection(conn_id)

    monkeypatch.setattr(EightByEightHook, "get_connection", staticmethod(slow_secrets_backend))
    rotate(emulator, make_hook)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    counts: list[int] = []

    def work() -> None:
        barrier.wait()
        try:
            counts.append(len(list(hook.iter_objects(region="us-east", max_objects=2))))
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and counts == [2] * 8
    assert hook.settings.secret == NEW
