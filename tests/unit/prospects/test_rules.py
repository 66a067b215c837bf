"""Pure rules: email normalisation, custom keys, placeholders, alias mapping, CSV scanning, the check decision."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from kindling.imports import csvfile, mapping
from kindling.platform.errors import ValidationFailed
from kindling.prospects.fields import InvalidEmail, normalize_email, placeholder_email, sanitize_custom_key
from kindling.prospects.repository import EmailRecordItem
from kindling.suppressions.repository import DomainSuppressionItem
from kindling.suppressions.service import decide, normalize_domain


def test_email_is_validated_and_lowercased() -> None:
    assert normalize_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    for bad in ("", "no-at", "a@@b.com", "a@localhost", "a b@c.com"):
        with pytest.raises(InvalidEmail):
            normalize_email(bad)


def test_custom_keys_are_sanitised() -> None:
    assert sanitize_custom_key("Plan Tier!") == "plan_tier_"
    assert sanitize_custom_key("X" * 40) == "x" * 30
    assert sanitize_custom_key("Ünïcode-Key") == "_n_code_key"


def test_placeholder_from_linkedin_url() -> None:
    assert placeholder_email("https://www.linkedin.com/in/Jane-Doe/?x=1") == "li.jane-doe@noemail.warmysender.com"
    with pytest.raises(InvalidEmail):
        placeholder_email("https://example.com/jane")


def test_alias_table_of_the_inventory() -> None:
    columns = ["e_mail", "first name", "LAST_NAME", "company_name", "position", "telephone", "linkedin_profile", "x"]
    assert mapping.suggest(columns) == {
        "e_mail": "email",
        "first name": "firstName",
        "LAST_NAME": "lastName",
        "company_name": "company",
        "position": "role",
        "telephone": "phone",
        "linkedin_profile": "linkedinUrl",
        "x": "custom:x",
    }
    # A second column that also looks like email becomes a custom field.
    assert mapping.suggest(["email", "E-mail"]) == {"email": "email", "E-mail": "custom:e_mail"}


def test_resolve_lets_an_explicit_choice_win() -> None:
    resolved = mapping.resolve(["email", "work email"], {"work email": "email", "email": "skip"})
    assert resolved == {"email": None, "work email": "email"}
    with pytest.raises(ValidationFailed):
        mapping.resolve(["email", "b"], {"email": "email", "b": "email"})  # two columns to email


def test_scan_counts_rows_and_ignores_blank_lines() -> None:
    data = b'email,name\r\na@x.com,A\r\n\r\n,\r\nb@x.com,"B, b"\r\n'
    scan = csvfile.scan(io.BytesIO(data))
    assert (scan.columns, scan.total_rows) == (["email", "name"], 2)
    chunks = list(csvfile.chunks(io.BytesIO(data), chunk_rows=1))
    assert [c.rows for c in chunks] == [[(2, ["a@x.com", "A"])], [(5, ["b@x.com", "B, b"])]]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"email,email\nx@y.com,z@y.com\n", "duplicate_column"),
        (b"email,\nx@y.com,1\n", "blank_column_name"),
        (b"email\n" + b"x@y.com\n" * (csvfile.MAX_ROWS + 1), "too_many_rows"),
        (b"\xff\xfee\x00", "unsupported_encoding"),
    ],
)
def test_scan_refuses(data: bytes, code: str) -> None:
    with pytest.raises(csvfile.CsvProblem) as problem:
        csvfile.scan(io.BytesIO(data))
    assert problem.value.code == code


def test_decide_precedence() -> None:
    when = datetime(2026, 6, 10, tzinfo=UTC)
    record = EmailRecordItem(email="a@x.com", prospect_id="p1", prospect_status="bounced")
    assert decide("a@x.com", record, None).reason == "prospect_status"
    assert decide("a@x.com", EmailRecordItem(email="a@x.com", prospect_status="active"), None).blocked is False
    domain = DomainSuppressionItem(supp_id="sup_1", supp_type="domain", supp_value="x.com", supp_created_at=when)
    assert decide("a@x.com", record, domain).reason == "domain"
    record.supp_id, record.supp_type, record.supp_created_at = "sup_2", "email", when
    assert decide("a@x.com", record, domain).reason == "email"
    assert normalize_domain("@Sub.Example.COM") == "sub.example.com"
