"""
Archive and purge: copy the previous day's recordings, then delete at 8x8 exactly the objects whose
copies were verified by MD5 in this run. Anything not verified stays at 8x8 and is reported.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import dag

from airflow_provider_eightbyeight.compat import CronDataIntervalTimetable
from airflow_provider_eightbyeight.operators import EightByEightTransferOperator

DESTINATION = "{{ var.value.get('eightbyeight_archive', 'file:///tmp/eightbyeight/archive/') }}"


@dag(
    dag_id="example_eightbyeight_archive_and_purge",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["8x8", "example"],
    doc_md=__doc__,
)
def archive_and_purge() -> None:
    EightByEightTransferOperator(
        task_id="archive_then_delete_at_8x8",
        object_types=["callrecording", "callcenterrecording", "voicemail"],
        created_after="{{ data_interval_start }}",
        created_before="{{ data_interval_end }}",
        destination=DESTINATION,
        path_template="{region}/{type}/{created:%Y/%m/%d}/{id}_{name}",
        write_metadata=True,
        delete_after_transfer=True,
    )


archive_and_purge()
