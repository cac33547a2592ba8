"""
Memory stays flat in the number of objects (issue "Scale").

One transfer task copies N and then 3 x N small objects, each in a fresh process; the growth of its peak RSS
must not scale with N: growth(3N) <= 1.25 x growth(N) + 10 MB, the acceptance rule of 15,000 vs 45,000
objects at a size a busy 2-core CI machine runs quickly. A run that keeps ~10 KB per object (the first
release) grows by ~40 MB more at 3 x N than at N and fails. Absolute figures and the 45,000-object run are in
the benchmark (``benchmarks/``), not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_eightbyeight.testing import Account, EightByEightEmulator, EmulatorConfig

#: Objects in the smaller run; the larger one copies three times as many.
SMALL = 2000

CHILD = textwrap.dedent(
    """
    import json, os, sys, tempfile
    from tests.helpers import FakeTI

    def status(field):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024

    from airflow_provider_eightbyeight.hooks.eightbyeight import EightByEightHook
    from airflow_provider_eightbyeight.operators.transfer import EightByEightTransferOperator

    region, limit = sys.argv[1], int(sys.argv[2])
    EightByEightHook().get_objects(["warm-up"], region=region)  # imports, token, session: not per object
    op = EightByEightTransferOperator(
        task_id="t", destination=tempfile.mkdtemp(), created_after=None, region=region, max_objects=limit
    )
    ti = FakeTI()
    with open("/proc/self/clear_refs", "w") as handle:  # peak RSS from here on
        handle.write("5")
    before = status("VmRSS")
    result = op.execute({"ti": ti, "task_instance": ti})
    print(json.dumps({"growth_mb": status("VmHWM") - before, "copied": result["copied"]}))
    """
)


@pytest.fixture(scope="module")
def many_small_objects():
    config = EmulatorConfig(
        seed=9,
        objects_per_region=3 * SMALL,
        regions=("us-east",),
        size_range=(100, 400),
        archived_fraction=0.0,
        revoked_fraction=0.0,
        accounts=(Account(regions=("us-east",)),),
    )
    emulator = EightByEightEmulator(config).start()
    yield emulator
    emulator.stop()


def _growth(emulator: EightByEightEmulator, count: int, tmp_path) -> float:
    from tests.helpers import ROOT

    env = {
        "AIRFLOW_CONN_EIGHTBYEIGHT_DEFAULT": emulator.connection_json(),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "us-east", str(count)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["copied"] == count
    return float(outcome["growth_mb"])


def test_memory_does_not_grow_with_the_number_of_objects(many_small_objects, tmp_path):
    small = _growth(many_small_objects, SMALL, tmp_path / "small")
    large = _growth(many_small_objects, 3 * SMALL, tmp_path / "large")
    assert large <= 1.25 * small + 10, (
        f"peak RSS growth {large:.1f} MB at {3 * SMALL} objects, {small:.1f} MB at {SMALL}"
    )
