"""Destination paths: templates and sanitising of hostile object names."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_eightbyeight.models import StoredObject
from airflow_provider_eightbyeight.transfer.paths import (
    DEFAULT_PATH_TEMPLATE,
    MAX_SEGMENT_BYTES,
    PathTemplateError,
    disambiguate,
    render_path,
    sanitize_relative_path,
    sanitize_segment,
    validate_template,
)

OBJ = StoredObject(
    id="3b1f9c2e-1111",
    type="callcenterrecording",
    name="int-19a0b1c2d3e-Demo:Call+0001.mp3",
    region="uk",
    created=datetime(2026, 3, 4, 10, 15, 30, tzinfo=timezone.utc),
    tags={"callId": "c-1", "agentName": "Ana María", "direction": "INBOUND"},
)


def named(name: str) -> StoredObject:
    return StoredObject(id="id-1", type="callrecording", name=name, created=OBJ.created)


def test_default_template():
    assert render_path(DEFAULT_PATH_TEMPLATE, OBJ) == (
        "callcenterrecording/2026/03/04/3b1f9c2e-1111_int-19a0b1c2d3e-Demo_Call+0001.mp3"
    )


def test_tags_regions_and_date_parts():
    template = "{region}/{direction}/{agentName}/{created:%Y-%m}/{tags[callId]}_{stem}.{ext}"
    assert render_path(template, OBJ) == "uk/INBOUND/Ana María/2026-03/c-1_int-19a0b1c2d3e-Demo_Call+0001.mp3"
    assert render_path("{queueName}/{id}", OBJ) == "unknown/3b1f9c2e-1111"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "id-1_.._.._etc_passwd"),
        ("/absolute/path.mp3", "id-1__absolute_path.mp3"),
        ("back\\slash\\name.wav", "id-1_back_slash_name.wav"),
        ("nul\x00and\x07bell\x1b.mp3", "id-1_nul_and_bell_.mp3"),
        ("CON", "id-1_CON"),
        ("tab\tnew\nline.mp3", "id-1_tab_new_line.mp3"),
        ("  spaced out  .mp3 ", "id-1_  spaced out  .mp3"),
    ],
)
def test_hostile_names_stay_inside_one_folder(name, expected):
    path = render_path("{id}_{name}", named(name))
    assert path == expected
    assert "/" not in path and not path.startswith(".")


@pytest.mark.parametrize("reserved", ["CON", "prn.txt", "AUX", "nul.mp3", "COM1", "lpt9.wav"])
def test_windows_reserved_names(reserved):
    assert sanitize_segment(reserved) == "_" + reserved


@pytest.mark.parametrize("segment", [".", "..", "...", "", "  ", "\x00"])
def test_empty_and_dot_segments_vanish(segment):
    assert sanitize_segment(segment) in ("", "_")
    assert sanitize_relative_path(f"a/{segment}/b") in ("a/b", "a/_/b")


def test_long_and_unicode_names():
    long_name = "x" * 1000 + ".mp3"
    segment = sanitize_segment(long_name)
    assert len(segment.encode()) <= MAX_SEGMENT_BYTES and segment.endswith(".mp3")
    other = sanitize_segment("x" * 999 + "y.mp3")
    assert other != segment  # shortened names stay distinct
    unicode = sanitize_segment("é" * 300 + ".wav")
    assert len(unicode.encode()) <= MAX_SEGMENT_BYTES and unicode.endswith(".wav")
    assert sanitize_segment("Ünïcödé ☎ 通話.mp3") == "Ünïcödé ☎ 通話.mp3"
    decomposed = "e\u0301.mp3"
    assert sanitize_segment(decomposed) == "\u00e9.mp3"  # NFC


def test_relative_paths_never_escape():
    for raw in ["/etc/passwd", "../../x", "a/../../b", "\\\\server\\share\\x", "a//b///c"]:
        result = sanitize_relative_path(raw)
        assert not result.startswith("/") and ".." not in result.split("/")
    assert sanitize_relative_path("", fallback="id-9") == "id-9"


def test_collisions_get_the_id():
    taken = {"a/same.mp3"}
    first = disambiguate("a/same.mp3", "id-12345678901234", taken)
    assert first == "a/same~id-123456789.mp3"
    taken.add(first)
    assert disambiguate("a/same.mp3", "id-12345678901234", taken) == "a/same~id-123456789-2.mp3"
    assert disambiguate("free.mp3", "x", taken) == "free.mp3"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{created.__class__}", "attribute access"),
        ("{id.__init__.__globals__}", "attribute access"),
        ("{tags[x].y}", "attribute access"),
        ("{type}", "overwrite each other"),
        ("{0}_{id}", "positional"),
        ("{id", "not a valid format string"),
        ("", "non-empty"),
        ("{type[0]}", "only tags"),
    ],
)
def test_invalid_templates(template, message):
    with pytest.raises(PathTemplateError, match=message):
        validate_template(template)


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [
        ("CON .mp3", "CON .mp3"),
        ("COM¹", "COM¹"),
        ("lpt³.wav", "lpt³.wav"),
        ("nul.", "nul"),
        ("Aux . txt", "Aux . txt"),
    ],
)
def test_windows_reserved_and_dot_names_are_made_harmless(name, unsafe):
    from airflow_provider_eightbyeight.transfer.paths import sanitize_segment

    cleaned = sanitize_segment(name)
    assert cleaned != unsafe and cleaned not in ("", ".", "..")
    stem = cleaned.split(".")[0].rstrip(" ").upper()
    assert stem not in {"CON", "PRN", "AUX", "NUL", "COM¹", "LPT³"}


def test_a_dot_dot_name_never_leaves_the_folder():
    from airflow_provider_eightbyeight.models import StoredObject
    from airflow_provider_eightbyeight.transfer.paths import render_path

    assert render_path("{type}/{name}", StoredObject(id="id1", type="callrecording", name="..")) == "callrecording/id1"


def test_paths_differing_only_in_case_are_one_path():
    """Two objects ``Rec.mp3`` and ``rec.mp3`` must not land on one file of a case-insensitive file system."""
    taken = {"calls/Rec.mp3"}
    other = disambiguate("calls/rec.mp3", "id-2", taken)
    assert other.casefold() != "calls/rec.mp3" and other == "calls/rec~id-2.mp3"
    taken.add(other)
    third = disambiguate("CALLS/REC.MP3", "ID-2", taken)  # its ~<id> form differs from the taken one only in case
    assert third.casefold() not in {t.casefold() for t in taken} and third == "CALLS/REC~ID-2-2.MP3"
    assert disambiguate("calls/Ström.mp3", "x", {"CALLS/STRÖM.MP3".casefold()}) != "calls/Ström.mp3"
    assert disambiguate("calls/new.mp3", "x", taken) == "calls/new.mp3"
    mapping = {"A/b.wav": "some-object"}
    assert disambiguate("a/B.wav", "id-3", mapping) == "a/B~id-3.wav"


@pytest.mark.parametrize("name", ["COM0", "lpt0.wav", "Com0 .mp3"])
def test_com0_and_lpt0_are_reserved_too(name):
    """Windows lists COM0 and LPT0 among the reserved names as well."""
    assert sanitize_segment(name) == "_" + name
