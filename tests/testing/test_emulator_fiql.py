"""Unit tests of the emulator's FIQL parser and evaluator (contract section 5.1)."""

from __future__ import annotations

import pytest

from airflow_provider_eightbyeight.testing import fiql
from airflow_provider_eightbyeight.testing.fiql import And, Comparison, FiqlError, Or


def _item(**values: str | list[str]):
    data = {k: (v if isinstance(v, list) else [v]) for k, v in values.items()}
    return data.get


def matches(text: str, **values: str | list[str]) -> bool:
    return fiql.evaluate(fiql.parse(text), _item(**values))


class TestParse:
    def test_single_comparison(self):
        assert fiql.parse("type==callrecording") == Comparison("type", "==", ("callrecording",), 0)

    @pytest.mark.parametrize("op", ["==", "!=", "=gt=", "=ge=", "=lt=", "=le="])
    def test_all_scalar_operators(self, op):
        node = fiql.parse(f"duration{op}100")
        assert isinstance(node, Comparison)
        assert (node.selector, node.operator, node.values) == ("duration", op, ("100",))

    def test_in_and_out_lists(self):
        node = fiql.parse("objectState=in=(ARCHIVED,AVAILABLE)")
        assert node == Comparison("objectState", "=in=", ("ARCHIVED", "AVAILABLE"), 0)
        node = fiql.parse("type=out=(meeting, voicemail)")
        assert isinstance(node, Comparison) and node.values == ("meeting", "voicemail")

    def test_and_binds_tighter_than_or(self):
        node = fiql.parse("a==1;b==2,c==3")
        assert isinstance(node, Or)
        assert isinstance(node.children[0], And)
        assert node.children[1] == Comparison("c", "==", ("3",), 8)

    def test_parentheses_group(self):
        node = fiql.parse("type==callrecording;(objectState==AVAILABLE,objectState==REVOKED)")
        assert isinstance(node, And)
        assert isinstance(node.children[1], Or)
        assert fiql.selectors(node) == {"type", "objectState"}

    def test_quoted_values_keep_reserved_characters(self):
        node = fiql.parse("queueName=='Tier 2, Escalations';callerName==\"Acme, Inc. (HQ)\"")
        assert isinstance(node, And)
        assert node.children[0].values == ("Tier 2, Escalations",)  # type: ignore[union-attr]
        assert node.children[1].values == ("Acme, Inc. (HQ)",)  # type: ignore[union-attr]

    def test_escaped_quote_inside_quotes(self):
        node = fiql.parse(r"agentName=='Casey O\'Neil'")
        assert isinstance(node, Comparison) and node.values == ("Casey O'Neil",)

    def test_unquoted_value_may_contain_spaces_and_colons(self):
        node = fiql.parse("queueName==Sales Queue;objectName==ipbx:demo:a+b.mp3")
        assert isinstance(node, And)
        assert node.children[0].values == ("Sales Queue",)  # type: ignore[union-attr]
        assert node.children[1].values == ("ipbx:demo:a+b.mp3",)  # type: ignore[union-attr]

    def test_whitespace_around_tokens_is_ignored(self):
        assert fiql.parse(" type == callrecording ; ( a==1 , b==2 ) ") == fiql.parse("type==callrecording;(a==1,b==2)")

    @pytest.mark.parametrize(
        ("text", "position", "fragment"),
        [
            ("", 0, "empty"),
            ("type", 4, "comparison operator"),
            ("type=foo=bar", 4, "'=foo='"),
            ("type==", 6, "expected a value"),
            ("(type==a", 8, "expected ')'"),
            ("type==a)", 7, "unbalanced ')'"),
            ("type=='abc", 6, "unterminated quoted value"),
            ("type==a;", 8, "expected a selector"),
            ("type==(a,b)", 6, "use =in="),
            ("objectState=in=(A,", 18, "expected a value"),
            ("objectState=in=(A B", 19, "expected ',' or ')'"),
            ("queueName==Billing (EMEA)", 19, "quote values"),
            (";type==a", 0, "expected a selector"),
            ("(" * 60 + "a==1" + ")" * 60, 50, "nested deeper"),
        ],
    )
    def test_errors_name_position_and_problem(self, text, position, fragment):
        with pytest.raises(FiqlError) as info:
            fiql.parse(text)
        assert info.value.position == position
        assert fragment in str(info.value)
        assert f"position {position}" in str(info.value)


class TestEvaluate:
    def test_equality_and_inequality(self):
        assert matches("type==callrecording", type="callrecording")
        assert not matches("type==callrecording", type="meeting")
        assert matches("type!=callrecording", type="meeting")
        assert not matches("type!=meeting", type="meeting")

    def test_numeric_comparison_when_both_sides_are_numbers(self):
        assert matches("duration=gt=100", duration="1271000")
        assert not matches("duration=gt=100", duration="99")
        assert matches("duration=ge=100", duration="100.0")
        assert matches("duration==061", duration="61")
        # exponent notation is not a plain decimal, so this is a string comparison ("5" > "1e3")
        assert not matches("storedBytes=lt=1e3", storedBytes="5")
        assert matches("duration=le=-1", duration="-5")

    def test_string_comparison_otherwise(self):
        assert matches("name=gt=b", name="c")
        assert not matches("name=gt=b", name="a")
        # "9a" is not a number, so "9a" vs "10" compares as strings ("9" > "1")
        assert matches("version=gt=10", version="9a")
        assert not matches("version=lt=10", version="9a")

    def test_in_out(self):
        assert matches("objectState=in=(ARCHIVED,AVAILABLE)", objectState="ARCHIVED")
        assert not matches("objectState=in=(ARCHIVED,AVAILABLE)", objectState="REVOKED")
        assert matches("objectState=out=(ARCHIVED,AVAILABLE)", objectState="REVOKED")
        assert not matches("objectState=out=(ARCHIVED,AVAILABLE)", objectState="AVAILABLE")

    def test_precedence(self):
        # a==1;b==2,c==3  ==  (a==1 AND b==2) OR c==3
        assert matches("a==1;b==2,c==3", a="0", b="0", c="3")
        assert not matches("a==1;(b==2,c==3)", a="0", b="0", c="3")
        assert matches("a==1;(b==2,c==3)", a="1", b="0", c="3")

    def test_missing_selector_never_matches(self):
        assert not matches("nosuch==x", type="a")
        assert not matches("nosuch!=x", type="a")
        assert not matches("nosuch=out=(x)", type="a")
        assert matches("nosuch==x,type==a", type="a")

    def test_repeated_values_any_for_equality_all_for_inequality(self):
        assert matches("speaker==owner", speaker=["owner", "external"])
        assert not matches("speaker!=owner", speaker=["owner", "external"])
        assert matches("speaker!=agent", speaker=["owner", "external"])

    def test_value_converter(self):
        node = fiql.parse("createdTime=ge=2026-11-01T00:00:00")

        def convert(selector: str, value: str) -> str:
            return "1793491200000" if selector == "createdTime" and value.startswith("2026") else value

        assert fiql.evaluate(node, _item(createdTime="1793491200001"), convert)
        assert not fiql.evaluate(node, _item(createdTime="1793491199999"), convert)

    def test_compare_helper(self):
        assert fiql.compare("10", "=gt=", "9")
        assert not fiql.compare("10", "=gt=", "9x")  # string comparison: "10" < "9x"
        assert fiql.compare("abc", "=le=", "abc")
        with pytest.raises(ValueError):
            fiql.compare("a", "=zz=", "b")
