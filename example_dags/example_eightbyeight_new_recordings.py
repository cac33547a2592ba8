"""
Event-driven export: each batch of new call recordings at 8x8 starts a run that copies exactly those
recordings, verified by MD5, with metadata sidecars.

No schedule and no sensor: an ``AssetWatcher`` runs ``EightByEightNewObjectsTrigger`` in the triggerer,
which polls 8x8 and turns every batch of newly AVAILABLE recordings into an asset event; each event
starts this DAG and names its objects. Delivery is at least once (a batch may repeat after a triggerer
crash, never go missing); a repeated batch finds its verified copies and skips them.

The poll interval comes from the environment variable ``EIGHTBYEIGHT_WATCH_POLL_SECONDS`` (default 60),
read when the DAG file is parsed; the destination from the Airflow Variable ``eightbyeight_new_recordings``.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import Asset, dag

from airflow_provider_eightbyeight.compat import AssetWatcher
from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.triggers.new_objects import EightByEightNewObjectsTrigger

DESTINATION = "{{ var.value.get('eightbyeight_new_recordings', 'file:///tmp/eightbyeight/new/') }}"
POLL_SECONDS = float(os.environ.get("EIGHTBYEIGHT_WATCH_POLL_SECONDS", "60"))

NEW_RECORDINGS = Asset(
    name="eightbyeight_new_recordings",
    watchers=[
        AssetWatcher(
            name="eightbyeight_new_recordings_watcher",
            trigger=EightByEightNewObjectsTrigger(
                eightbyeight_conn_id="eightbyeight_default",
                object_types=["callrecording", "callcenterrecording"],
                poll_interval=POLL_SECONDS,
            ),
        )
    ],
)


@dag(
    dag_id="example_eightbyeight_new_recordings",
    schedule=[NEW_RECORDINGS],
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["8x8", "example"],
    doc_md=__doc__,
)
def new_recordings() -> None:
    EightByEightTransferOperator(
        task_id="copy_new_recordings",
        from_triggering_events=True,
        destination=DESTINATION,
        write_metadata=True,
    )


new_recordings()
