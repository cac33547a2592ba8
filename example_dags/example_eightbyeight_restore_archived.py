"""
Restore archived recordings, wait (deferred, no worker slot) until 8x8 has them AVAILABLE again,
then copy them. 8x8 restores take hours; the restored copies are kept for ``expiration_days``. The copies land
in one folder per 8x8 bucket (``{created:%Y/%m/%d}/{bucket_id}/``): the objects of one call share a bucket.

Deferral on Airflow 3.3: a trigger that fires seconds after the deferral can meet Airflow's stale-success race
(the task fails although its log says "Restore complete"; see the README, "Deferral and Airflow's stale-success
race"). The operator does not defer when every object is AVAILABLE already, and its trigger holds its first
poll 10 s after the deferral, so the scheduler has drained the deferring worker's exit first. A retry does not
help this restore *by search*: the restored objects are AVAILABLE by then, not ARCHIVED, so the retry returns
only those still ARCHIVED. To restore and copy by search in one task that retries safely, use
``EightByEightTransferOperator(on_archived="restore", retries=1, ...)``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import dag

from airflow_provider_eightbyeight.operators import (
    EightByEightRestoreObjectsOperator,
    EightByEightTransferOperator,
)

DESTINATION = "{{ var.value.get('eightbyeight_restored', 'file:///tmp/eightbyeight/restored/') }}"


@dag(
    dag_id="example_eightbyeight_restore_archived",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    # poll_seconds is a param, not a Variable: Airflow masks every Variable a template reads as a secret
    # (and warns about short ones), which a number is not.
    params={"object_types": ["callrecording", "callcenterrecording"], "poll_seconds": 600},
    tags=["8x8", "example"],
    doc_md=__doc__,
)
def restore_archived() -> None:
    restore = EightByEightRestoreObjectsOperator(
        task_id="restore_archived_recordings",
        object_types="{{ params.object_types | join(',') }}",
        expiration_days=3,
        deferrable=True,
        poll_interval="{{ params.poll_seconds }}",
    )
    EightByEightTransferOperator(
        task_id="copy_restored",
        object_ids=restore.output,
        destination=DESTINATION,
        # One folder per 8x8 bucket: a call's recording beside its transcript and summary when they are copied too.
        path_template="{created:%Y/%m/%d}/{bucket_id}/{id}_{name}",
        write_metadata=True,
    )


restore_archived()
