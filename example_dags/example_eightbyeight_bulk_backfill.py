"""
Backfill a long period with bulk zips, one mapped task per time window.

``windows()`` (``airflow_provider_eightbyeight.partition``) splits the period ``[start, end)`` of the run's
params into consecutive half-open windows of ``every`` (default one day): a year becomes 365 mapped
transfers that the executor spreads over workers, and each object lands in exactly one window. Each window
is copied with 8x8 bulk (zip) jobs, every zip entry verified against its object's MD5; objects a zip
lacks are downloaded on their own. A re-run skips what is already copied, so a failed window can simply
be cleared and run again.

The copies run in the ``eightbyeight`` pool and at most ``MAX_PARALLEL_WINDOWS`` at a time, so a backfill
does not crowd out the daily exports or flood 8x8. Create the pool once, counting deferred tasks (a window
waiting for its zip in the triggerer still has a bulk job open at 8x8)::

    airflow pools set eightbyeight 4 "8x8 Cloud Storage API" --include-deferred

(A task in a pool that does not exist is never scheduled; ``dag.test()`` ignores pools.)

Deferral on Airflow 3.3: a window does not defer when its zips are ready already, and the trigger holds its
first poll 10 s after the deferral, against Airflow's stale-success race (README, "Deferral and Airflow's
stale-success race"). Should the race still fail a window, ``retries=1`` on the transfer rides it out: the
retried window skips what it copied.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import conf, dag, task

from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.partition import windows

DESTINATION = "{{ var.value.get('eightbyeight_backfill', 'file:///tmp/eightbyeight/backfill/') }}"
#: The Airflow pool shared by every task that calls 8x8 (create it; see the DAG's doc).
POOL = "eightbyeight"
#: Windows copied at the same time by this DAG (running or deferred), each with up to 4 download workers.
MAX_PARALLEL_WINDOWS = 4


@dag(
    dag_id="example_eightbyeight_bulk_backfill",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    # poll_seconds is a param, not a Variable: Airflow masks every Variable a template reads as a secret
    # (and warns about short ones), which a number is not.
    params={"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z", "every": "1d", "poll_seconds": 30},
    tags=["8x8", "example"],
    doc_md=__doc__,
)
def bulk_backfill() -> None:
    @task
    def split_period(params: dict | None = None) -> list[dict[str, str]]:
        """``[{"created_after": ..., "created_before": ...}, ...]``, no more than Airflow can map over."""
        assert params is not None
        return windows(
            params["start"],
            params["end"],
            params["every"],
            max_windows=conf.getint("core", "max_map_length", fallback=1024),
        )

    EightByEightTransferOperator.partial(
        task_id="copy_window",
        object_types=["callrecording", "callcenterrecording"],
        destination=DESTINATION,
        strategy="bulk",
        deferrable=True,
        poll_interval="{{ params.poll_seconds }}",
        max_workers=4,
        pool=POOL,
        max_active_tis_per_dag=MAX_PARALLEL_WINDOWS,
        map_index_template="{{ task.created_after }}",
    ).expand_kwargs(split_period())


bulk_backfill()
