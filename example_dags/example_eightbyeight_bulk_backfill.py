"""
Backfill with bulk zips: list a long period's recordings, split the ids into batches, and copy each
batch with 8x8 bulk (zip) jobs in its own mapped task. Each zip entry is verified against its object's
MD5; objects a zip lacks are downloaded on their own.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import dag

from airflow_provider_eightbyeight.operators import (
    EightByEightListObjectsOperator,
    EightByEightTransferOperator,
)

DESTINATION = "{{ var.value.get('eightbyeight_backfill', 'file:///tmp/eightbyeight/backfill/') }}"


@dag(
    dag_id="example_eightbyeight_bulk_backfill",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    params={"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z", "batch_size": 25},
    tags=["8x8", "example"],
    doc_md=__doc__,
)
def bulk_backfill() -> None:
    batches = EightByEightListObjectsOperator(
        task_id="list_recordings",
        object_types=["callrecording", "callcenterrecording"],
        created_after="{{ params.start }}",
        created_before="{{ params.end }}",
        batch_size=25,
    )
    EightByEightTransferOperator.partial(
        task_id="copy_batch",
        destination=DESTINATION,
        strategy="bulk",
        deferrable=True,
        poll_interval="{{ var.value.get('eightbyeight_poll_seconds', 30) }}",
        max_workers=4,
    ).expand(object_ids=batches.output)


bulk_backfill()
