"""The FIQL builder and time conversions (pure code)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pendulum
import pytest

from airflow_provider_eightbyeight.filters import (
    ObjectFilter,
    all_of,
    any_of,
    comparison,
    mentions_state,
    quote_value,
    to_fiql,
)
from airflow_provider_eightbyeight.timeutil import parse_api_time, to_epoch_ms

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
T0_MS = 1767225600000


class TestTimes:
    @pytest.mark.parametrize(
        "value",
        [
            T0,
            T0.replace(tzinfo=None),
            pendulum.datetime(2026, 1, 1, tz="UTC"),
            pendulum.datetime(2026, 1, 1, 1, tz="Europe/Paris"),
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00+00:00",
            "2026-01-01T01:00:00+01:00",
            "2026-01-01",
            date(2026, 1, 1),
            T0_MS,
            str(T0_MS),
            T0_MS / 1000,
        ],
    )
    def test_every_form_gives_epoch_ms(self, value):
        assert to_epoch_ms(value) == T0_MS

    @pytest.mark.parametrize("value", ["", "yesterday", True, [1], None])
    def test_unreadable_times_are_refused_with_the_forms_to_use(self, value):
        with pytest.raises(ValueError, match=r"ISO-8601|datetime"):
            to_epoch_ms(value)

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("2026-03-04T10:15:30", datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc)),
            ("2026-03-04T10:15:30.250", datetime(2026, 3, 4, 10, 15, 30, 250000, tzinfo=timezone.utc)),
            ("2026-03-04T11:15:30+01:00", datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc)),
            ("2026-03-04T10:15:30Z", datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc)),
            # forms Python 3.10's datetime.fromisoformat refuses (parsed by pendulum, as Airflow does)
            ("2026-03-04T10:15:30.25", datetime(2026, 3, 4, 10, 15, 30, 250000, tzinfo=timezone.utc)),
            ("2026-03-04T10:15:30.2500001Z", datetime(2026, 3, 4, 10, 15, 30, 250000, tzinfo=timezone.utc)),
            ("2026-03-04 10:15:30.5", datetime(2026, 3, 4, 10, 15, 30, 500000, tzinfo=timezone.utc)),
            ("20260304T101530Z", datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc)),
            (" 2026-03-04T10:15:30z ", datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc)),
            (1772619330000, datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc)),
            ("1772619330", datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc)),
            (None, None),
            ("", None),
        ],
    )
    def test_api_times_become_aware_utc(self, raw, expected):
        parsed = parse_api_time(raw)
        assert parsed == expected
        if parsed is not None:
            assert parsed.utcoffset() == timedelta(0)
        assert parsed is None or type(parsed) is datetime  # a plain datetime, whatever parsed it

    @pytest.mark.parametrize("raw", ["P1D", "2026-W10", "10:15:30", "2026-13-01T00:00:00", "yesterday", "2026-03"])
    def test_what_is_not_a_point_in_time_is_refused(self, raw):
        with pytest.raises(ValueError):
            parse_api_time(raw)


class TestValues:
    @pytest.mark.parametrize(
        ("value", "rendered"),
        [
            ("INBOUND", "INBOUND"),
            ("Sales (EU)", '"Sales (EU)"'),
            ("a,b", '"a,b"'),
            ("x;y", '"x;y"'),
            ('say "hi"', "'say \"hi\"'"),
            ("", '""'),
            (42, "42"),
            (True, "true"),
        ],
    )
    def test_reserved_characters_are_quoted(self, value, rendered):
        assert quote_value(value) == rendered

    def test_both_quotes_cannot_be_expressed(self):
        with pytest.raises(ValueError, match="both"):
            quote_value('it\'s "odd"')

    def test_comparison_validates_operator_and_selector(self):
        assert comparison("duration", "=gt=", 100) == "duration=gt=100"
        with pytest.raises(ValueError, match="operator"):
            comparison("duration", "=like=", 1)
        with pytest.raises(ValueError, match="Invalid filter field"):
            comparison("bad field;", "==", 1)


class TestCombinators:
    def test_and_groups_or_parts(self):
        assert all_of("a==1,b==2", "c==3") == "(a==1,b==2);c==3"

    def test_or_groups_and_parts(self):
        assert any_of("a==1;b==2", "c==3") == "(a==1;b==2),c==3"

    def test_empty_parts_vanish(self):
        assert all_of(None, "", "  ") is None
        assert all_of(None, "a==1") == "a==1"
        assert any_of() is None

    def test_separators_inside_quotes_do_not_force_groups(self):
        assert all_of('queueName=="a,b"', "c==3") == 'queueName=="a,b";c==3'


class TestObjectFilter:
    def test_full_filter(self):
        fiql = ObjectFilter(
            object_types=["callrecording", "transcription"],
            created_after=T0,
            created_before=T0 + timedelta(days=1),
            states=["available", "ARCHIVED"],
            tags={"direction": "INBOUND", "queueName": "Sales (EU)"},
            raw="duration=gt=100,duration=lt=5",
        ).to_fiql()
        assert fiql == (
            "(type==callrecording,type==transcription);(objectState==AVAILABLE,objectState==ARCHIVED);"
            f"createdTime=ge={T0_MS};createdTime=lt={T0_MS + 86_400_000};direction==INBOUND;"
            'queueName=="Sales (EU)";(duration=gt=100,duration=lt=5)'
        )

    def test_single_values_need_no_group(self):
        assert ObjectFilter(object_types="voicemail", updated_after=T0_MS).to_fiql() == (
            f"type==voicemail;updatedTime=ge={T0_MS}"
        )

    def test_empty_filter_matches_everything(self):
        assert ObjectFilter().to_fiql() is None
        assert str(ObjectFilter()) == ""
        assert to_fiql(ObjectFilter()) is None

    def test_raw_and_none_pass_through(self):
        assert to_fiql("  type==meeting ") == "type==meeting"
        assert to_fiql(None) is None
        assert to_fiql("   ") is None
        with pytest.raises(ValueError, match="FIQL string or an ObjectFilter"):
            to_fiql(42)  # type: ignore[arg-type]

    def test_inverted_window_is_refused(self):
        with pytest.raises(ValueError, match=r"created_after .* must be earlier"):
            ObjectFilter(created_after=T0 + timedelta(seconds=1), created_before=T0)

    def test_empty_window_explains_airflow_3_intervals(self):
        with pytest.raises(ValueError, match=r"zero-length data intervals .* CronDataIntervalTimetable"):
            ObjectFilter(created_after=T0, created_before=T0)

    def test_unknown_state_is_refused(self):
        with pytest.raises(ValueError, match="Unknown object state"):
            ObjectFilter(states=["GONE"])

    def test_tag_named_like_a_field_is_refused(self):
        with pytest.raises(ValueError, match="also an object field"):
            ObjectFilter(tags={"type": "x"})

    def test_bad_time_names_the_argument(self):
        with pytest.raises(ValueError, match="created_before"):
            ObjectFilter(created_before="not a time")

    def test_empty_type_is_refused(self):
        with pytest.raises(ValueError, match="object type"):
            ObjectFilter(object_types=["callrecording", ""])

    def test_mentions_state(self):
        assert mentions_state("type==x;objectState==ARCHIVED")
        assert not mentions_state('tag=="objectState"')
        assert not mentions_state(None)
