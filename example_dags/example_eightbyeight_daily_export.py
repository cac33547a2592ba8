"""
Daily incremental export: wait for the day's call recordings, then copy them and their transcripts,
with metadata sidecars, to a destination.

The destination comes from the Airflow Variable ``eightbyeight_destination`` (e.g. ``file:///data/8x8/``
or ``s3://aws_default@my-bucket/8x8/``); the 8x8 connection is ``eightbyeight_default``.

The sensor defers only while the day's recordings are missing; its trigger holds its first poll 10 s after
the deferral, against Airflow 3.3's stale-success race (README, "Deferral and Airflow's stale-success race").
``retries=1`` on the sensor rides out the race should it still happen (a retry pokes first).
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import Asset, dag, task

from airflow_provider_eightbyeight.compat import CronDataIntervalTimetable
from airflow_provider_eightbyeight.operators import EightByEightTransferOperator
from airflow_provider_eightbyeight.sensors import EightByEightObjectsSensor

DESTINATION = "{{ var.value.get('eightbyeight_destination', 'file:///tmp/eightbyeight/daily/') }}"
#: Downstream DAGs can schedule on this asset; each event carries the run's counts and manifest.
DAILY_RECORDINGS = Asset("eightbyeight_daily_recordings")  # a Dataset of that URI on Airflow 2
WINDOW = {"created_after": "{{ data_interval_start }}", "created_before": "{{ data_interval_end }}"}


@dag(
    dag_id="example_eightbyeight_daily_export",
    # A real daily interval: Airflow 3 cron strings give zero-length intervals (CronTriggerTimetable).
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["8x8", "example"],
    doc_md=__doc__,
)
def daily_export() -> None:
    recordings_arrived = EightByEightObjectsSensor(
        task_id="wait_for_recordings",
        object_types=["callrecording", "callcenterrecording"],
        min_count=1,
        poke_interval=5,
        timeout=6 * 3600,
        deferrable=True,
        **WINDOW,
    )
    copy = EightByEightTransferOperator(
        task_id="copy_recordings_and_transcripts",
        object_types=["callrecording", "callcenterrecording", "transcription"],
        destination=DESTINATION,
        write_metadata=True,
        max_workers=8,
        outlets=[DAILY_RECORDINGS],
        **WINDOW,
    )

    @task
    def report(summary: dict) -> str:
        """Summarise the run for the log (and for anyone pulling this task's XCom)."""
        line = (
            f"{summary['copied']} copied, {summary['skipped']} already present, {summary['failed']} failed, "
            f"{summary['bytes_copied']:,} bytes -> {summary['destination']} (manifest {summary['manifest']})"
        )
        print(line)
        return line

    recordings_arrived >> copy
    report(copy.output)


daily_export()
