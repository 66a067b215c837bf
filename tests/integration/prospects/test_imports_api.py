"""CSV import over HTTP with real files: upload -> preview -> confirm -> job -> status, and every bad input."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from kindling.imports import csvfile
from kindling.imports.repository import ImportItem
from tests.integration.prospects.conftest import Api, run_jobs

CSV = Path(__file__).resolve().parents[2] / "fixtures" / "csv"


def upload(api: Api, name: str, content: bytes | None = None, **form: str) -> Any:
    data = content if content is not None else (CSV / name).read_bytes()
    return api.call("POST", "/api/v1/imports", files={"file": (name, data, "text/csv")}, data=form)


def confirm_and_run(api: Api, import_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    confirmed = api.call("POST", f"/api/v1/imports/{import_id}/mapping-confirm", json=body or {})
    assert confirmed.status_code == 202, confirmed.text
    assert confirmed.json()["data"]["status"] == "processing"
    run_jobs(api.tenant.workspace_id, confirmed.json()["data"]["jobId"])
    result = api.call("GET", f"/api/v1/imports/{import_id}")
    assert result.status_code == 200
    return dict(result.json()["data"])


def all_prospects(api: Api) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = api.call("GET", "/api/v1/prospects", params=params).json()
        found += page["data"]
        cursor = page["pagination"]["next_cursor"]
        if not cursor:
            return found


def import_items() -> list[str]:
    return [f"{item.pk} {item.sk}" for item in ImportItem.scan() if "#IMPORT#" in item.pk]


def seed_mixed_workspace(api: Api) -> None:
    api.call("POST", "/api/v1/prospects", json={"email": "existing@acme.com", "firstName": "Old"})
    api.call("POST", "/api/v1/prospects/suppress", json={"emails": ["blocked@acme.com"]})
    api.call("POST", "/api/v1/suppressions", json={"type": "domain", "value": "rival.io"})


def test_mixed_file_counts_every_rule(api: Api) -> None:
    seed_mixed_workspace(api)
    uploaded = upload(api, "prospects_mixed.csv", listName="From CSV")
    assert uploaded.status_code == 201, uploaded.text
    record = uploaded.json()["data"]
    assert record["status"] == "pending_mapping" and record["totalRows"] == 10

    preview = api.call("GET", f"/api/v1/imports/{record['id']}/mapping-preview").json()["data"]
    assert preview["suggestedMapping"] == {
        "E-mail": "email",
        "First Name": "firstName",
        "last_name": "lastName",
        "Company Name": "company",
        "Job Title": "role",
        "Mobile": "phone",
        "LinkedIn": "linkedinUrl",
        "custom:Plan Tier": "custom:plan_tier",
        "Favourite Color": "custom:favourite_color",
    }
    assert preview["sampleRows"][0]["E-mail"] == "ann@acme.com" and len(preview["sampleRows"]) == 5

    result = confirm_and_run(api, record["id"])
    assert result["status"] == "completed"
    counts = {k: result[k] for k in ("created", "updated", "duplicate", "suppressed", "invalid", "skipped", "failed")}
    assert counts == {
        "created": 3,
        "updated": 0,
        "duplicate": 2,
        "suppressed": 2,
        "invalid": 2,
        "skipped": 1,
        "failed": 0,
    }
    assert result["processedRows"] == 10
    assert [(e["row"], e["code"]) for e in result["errors"]] == [(3, "invalid"), (5, "missing_email"), (9, "invalid")]

    by_email = {p["email"]: p for p in all_prospects(api)}
    assert set(by_email) == {
        "existing@acme.com",
        "ann@acme.com",
        "li.lin-kedin@noemail.warmysender.com",
        "bob@beta.org",
    }
    ann = by_email["ann@acme.com"]
    assert (ann["firstName"], ann["role"], ann["phone"]) == ("Ann", "CTO", "+1 555 0100")
    assert ann["customFields"] == {"plan_tier": "gold", "favourite_color": "blue"}
    assert by_email["bob@beta.org"]["lastName"] == "Smith, Jr."
    assert by_email["existing@acme.com"]["firstName"] == "Old"  # duplicates are skipped, not merged

    lists = api.call("GET", "/api/v1/lists").json()["data"]
    assert [(x["name"], x["prospectCount"]) for x in lists] == [("From CSV", 3)]
    members = api.call("GET", "/api/v1/prospects", params={"listId": lists[0]["id"]}).json()["data"]
    assert len(members) == 3


def test_update_existing_merges_and_manual_mapping_applies(api: Api) -> None:
    seed_mixed_workspace(api)
    record = upload(api, "prospects_mixed.csv").json()["data"]
    result = confirm_and_run(
        api,
        record["id"],
        {"mapping": {"Company Name": "custom:employer", "Favourite Color": "skip"}, "updateExisting": True},
    )
    assert (result["created"], result["updated"], result["duplicate"]) == (3, 1, 1)
    existing = api.call("GET", "/api/v1/prospects", params={"email": "existing@acme.com"}).json()["data"][0]
    assert existing["firstName"] == "Exist" and existing["company"] is None
    assert existing["customFields"] == {"employer": "NewCo"}
    again = api.call("POST", f"/api/v1/imports/{record['id']}/mapping-confirm", json={})
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_status"


def test_bad_mappings_are_refused(api: Api) -> None:
    record = upload(api, "prospects_mixed.csv").json()["data"]
    url = f"/api/v1/imports/{record['id']}/mapping-confirm"
    for mapping in ({"Nope": "email"}, {"E-mail": "favourite"}, {"E-mail": "skip", "LinkedIn": "skip"}):
        response = api.call("POST", url, json={"mapping": mapping})
        assert response.status_code == 400, mapping
    assert api.call("GET", f"/api/v1/imports/{record['id']}").json()["data"]["status"] == "pending_mapping"


def test_bom_is_fine(api: Api) -> None:
    record = upload(api, "bom_utf8.csv").json()["data"]
    assert record["columns"] == ["email", "firstName", "city"]
    result = confirm_and_run(api, record["id"])
    assert result["created"] == 1
    zoe = all_prospects(api)[0]
    assert (zoe["firstName"], zoe["city"]) == ("Zoë", "Zürich")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("latin1.csv", "unsupported_encoding"),
        ("utf16.csv", "unsupported_encoding"),
        ("ragged.csv", "ragged_row"),
        ("empty.csv", "empty_file"),
        ("header_only.csv", "no_rows"),
        ("no_email_column.csv", "missing_email_column"),
        ("binary.xlsx", "unsupported_file_type"),
        ("nul_bytes.csv", "binary_file"),
        ("unclosed_quote.csv", "malformed_csv"),
    ],
)
def test_malformed_files_get_a_clear_error_and_write_nothing(api: Api, name: str, code: str) -> None:
    response = upload(api, name)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["details"][0]["field"] == "file"
    assert import_items() == []  # no import record, no chunk
    assert all_prospects(api) == []


def test_binary_content_with_a_csv_name_is_refused(api: Api) -> None:
    response = upload(api, "data.csv", (CSV / "binary.xlsx").read_bytes())
    assert response.status_code == 400 and response.json()["error"]["code"] == "binary_file"


def test_more_than_10000_rows_is_refused(api: Api) -> None:
    content = "email\n" + "".join(f"p{n}@acme.com\n" for n in range(csvfile.MAX_ROWS + 1))
    response = upload(api, "big.csv", content.encode())
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_many_rows"
    assert import_items() == []


def test_duplicates_across_chunks_are_counted_once(api: Api) -> None:
    # 1,200 rows = 3 chunks; every 10th row repeats an address from the first chunk.
    lines = ["email,firstName"]
    for n in range(1200):
        lines.append(f"dup{n % 37}@acme.com,D" if n % 10 == 9 else f"u{n}@acme.com,U{n}")
    record = upload(api, "chunks.csv", ("\n".join(lines) + "\n").encode()).json()["data"]
    result = confirm_and_run(api, record["id"], {"listName": "Chunked"})
    unique = {line.split(",")[0] for line in lines[1:]}
    assert result["created"] == len(unique)
    assert result["duplicate"] == 1200 - len(unique)
    assert len(all_prospects(api)) == len(unique)
    lists = api.call("GET", "/api/v1/lists").json()["data"]
    assert lists[0]["prospectCount"] == len(unique)


def test_a_rerun_of_a_processed_batch_changes_nothing(api: Api) -> None:
    from kindling.imports.service import ImportService
    from kindling.jobs.registry import BatchContext

    record = upload(api, "bom_utf8.csv").json()["data"]
    result = confirm_and_run(api, record["id"], {"listName": "Once"})
    context = BatchContext(api.tenant.workspace_id, result["jobId"], {"import_id": record["id"]}, ["0"])
    assert ImportService().process(context) == []
    again = api.call("GET", f"/api/v1/imports/{record['id']}").json()["data"]
    assert (again["created"], again["duplicate"], again["processedRows"]) == (1, 0, 1)
    assert api.call("GET", "/api/v1/lists").json()["data"][0]["prospectCount"] == 1


def test_idempotency_key_replays_the_upload(api: Api) -> None:
    data = (CSV / "bom_utf8.csv").read_bytes()
    headers = {"Idempotency-Key": "import-batch-001"}
    files = {"file": ("a.csv", io.BytesIO(data), "text/csv")}
    first = api.call("POST", "/api/v1/imports", files=files, headers=headers, data={"listName": "X"})
    assert first.status_code == 201
    files = {"file": ("a.csv", io.BytesIO(data), "text/csv")}
    second = api.call("POST", "/api/v1/imports", files=files, headers=headers, data={"listName": "X"})
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json()["data"]["id"] == first.json()["data"]["id"]


def _csv(columns: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.mark.parametrize(
    ("columns", "rows", "code"),
    [
        # 201 columns: one more than the 200 supported.
        (["email"] + [f"c{n}" for n in range(200)], [["a@acme.com"] + ["x"] * 200], "too_many_columns"),
        # 5,000 columns, the shape that used to pass the 400 KB item limit and answer 500.
        (["email"] + [f"column_{n:05d}" for n in range(4999)], [["a@acme.com"] + ["x"] * 4999], "too_many_columns"),
        # A header over 16 KB in 100 columns.
        (["email"] + [f"{n:03d}" + "h" * 170 for n in range(99)], [["a@acme.com"] + ["x"] * 99], "header_too_large"),
        # One data row over 64 KB (three cells of 30,000 characters).
        (["email", "a", "b", "c"], [["a@acme.com", "y" * 30_000, "y" * 30_000, "y" * 30_000]], "row_too_large"),
        # One cell over 32,768 characters.
        (["email", "notes"], [["a@acme.com", "z" * 40_000]], "cell_too_large"),
    ],
)
def test_oversized_files_are_400_with_a_stable_code_and_write_nothing(
    api: Api, columns: list[str], rows: list[list[str]], code: str
) -> None:
    response = upload(api, "wide.csv", _csv(columns, rows))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"][0]["field"] == "file"
    assert import_items() == []


def test_the_largest_accepted_file_imports_within_the_item_limit(api: Api) -> None:
    # 200 columns with a header just under 16 KB, and rows just under 64 KB of non-ASCII text (2 bytes a char).
    columns = ["email"] + [f"{n:03d}" + "c" * 76 for n in range(199)]
    cell = "é" * 160  # 320 bytes
    rows = [[f"p{n}@acme.com"] + [cell] * 199 for n in range(6)]
    uploaded = upload(api, "largest.csv", _csv(columns, rows))
    assert uploaded.status_code == 201, uploaded.text
    record = uploaded.json()["data"]
    preview = api.call("GET", f"/api/v1/imports/{record['id']}/mapping-preview")
    assert preview.status_code == 200
    assert len(preview.json()["data"]["sampleRows"]) >= 1
    # A prospect holds at most 50 custom fields: the first 40 columns are kept, the others skipped.
    result = confirm_and_run(api, record["id"], {"mapping": dict.fromkeys(columns[41:], "skip")})
    assert result["status"] == "completed"
    assert (result["created"], result["invalid"]) == (6, 0)
    assert len(all_prospects(api)[0]["customFields"]) == 40


def test_multi_line_cells_fold_into_one_line_fields_and_control_characters_fail_the_row(api: Api) -> None:
    content = _csv(
        ["email", "company", "firstName", "notes"],
        [
            ["ann@acme.com", "Acme\r\nInternational", "Ann", "line one\nline two"],
            ["bob@acme.com", "Bobco", "Bob\x07", "ok"],
        ],
    )
    record = upload(api, "cells.csv", content).json()["data"]
    result = confirm_and_run(api, record["id"])
    assert (result["created"], result["invalid"]) == (1, 1)
    (ann,) = all_prospects(api)
    assert ann["company"] == "Acme International"
    assert ann["customFields"] == {"notes": "line one\nline two"}
