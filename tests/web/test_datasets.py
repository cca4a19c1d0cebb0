"""Uploading datasets from the page: CSV in the app, XLSX/Parquet/JSON profiled in the real sandbox by the
worker's service, run in the test's process (tests/analysis/test_dataset_profiling.py has a real worker)."""

import json
import subprocess

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from analysis import selectors
from analysis.models import Dataset
from audit.models import AuditEvent
from tests.uploads import made_by_pandas, profile_waiting

CSV = b"city,visits,opened\nLyon,3,2024-01-02\nNantes,5,2024-02-03\n"


@pytest.fixture
def client(analyst):
    client = Client()
    client.force_login(type(analyst).objects.get(pk=analyst.pk))
    return client


def upload(client, name: str, content: bytes, **extra):
    return client.post("/datasets/", {"file": SimpleUploadedFile(name, content), **extra}, follow=True)


def upload_and_profile(client, name: str, content: bytes):
    """Upload, then let the worker's service profile it; the dataset's page as the analyst then sees it."""
    response = upload(client, name, content)
    assert response.status_code == 200, response.content.decode()[:2000]
    assert "it is being profiled in the sandbox" in response.content.decode()
    (dataset,) = profile_waiting()
    return dataset, client.get(f"/datasets/{dataset.pk}/")


def test_a_csv_upload_is_profiled_previewed_and_audited(client, team):
    response = upload(client, "visits.csv", CSV, allow_sample_sharing="on")
    dataset = Dataset.objects.get(team=team)
    assert response.redirect_chain[-1][0] == f"/datasets/{dataset.pk}/"
    assert dataset.row_count == 2 and dataset.allow_sample_sharing
    assert dataset.columns == [
        {"name": "city", "dtype": "object"},
        {"name": "visits", "dtype": "int64"},
        {"name": "opened", "dtype": "datetime64[ns]"},
    ]
    body = response.content.decode()
    assert "Uploaded visits.csv: 2 rows." in body
    assert "<td>Nantes</td>" in body and "datetime64[ns]" in body
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DATASET_UPLOADED).count() == 1


@pytest.mark.parametrize(
    ("name", "writer"),
    [("visits.xlsx", "to_excel"), ("visits.parquet", "to_parquet"), ("visits.json", "to_json")],
)
def test_xlsx_parquet_and_json_are_profiled_in_the_sandbox(client, team, tmp_path, name, writer):
    content = made_by_pandas(tmp_path, name, writer)
    dataset, response = upload_and_profile(client, name, content)
    assert dataset.status == Dataset.Status.READY and dataset.row_count == 3
    # pandas 3 in the sandbox calls text columns "str"
    assert dataset.columns == [{"name": "city", "dtype": "str"}, {"name": "visits", "dtype": "int64"}]
    assert "<td>Lille</td>" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("visits.txt", CSV, "Dataset names are plain file names ending in .csv, .xlsx, .parquet, .json"),
        ("visits.csv", "ville,été\nLyon,1\n".encode("latin-1"), "is not UTF-8 text"),
        ("visits.xlsx", CSV, "is not a real Excel (XLSX) file"),
        ("visits.json", b'{"city": ["Lyon", ', "is not valid JSON"),
        ("visits.csv", b"", "The submitted file is empty."),
    ],
)
def test_bad_files_are_refused_with_a_clear_message_and_nothing_is_stored(client, name, content, message):
    response = upload(client, name, content)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_file_the_sandbox_cannot_read_ends_failed_with_its_reason_on_the_page(client):
    dataset, response = upload_and_profile(client, "visits.parquet", b"PAR1 but not really")
    assert dataset.status == Dataset.Status.FAILED
    assert dataset.failure_reason.startswith("Sandgate could not read “visits.parquet” as Parquet: ")
    body = response.content.decode()
    assert "Refused: this file cannot be used." in body and "could not read “visits.parquet”" in body
    assert "hx-get" not in body  # final: the page stops polling
    listed = client.get("/datasets/").content.decode()
    assert 'data-status="failed">Failed</span>' in listed and "could not read “visits.parquet”" in listed


def test_a_file_over_the_size_limit_is_refused(client, settings):
    settings.SANDGATE_MAX_DATASET_MB = 0
    response = upload(client, "visits.csv", CSV)
    assert response.status_code == 400
    assert "The file is too large: the limit is 0 MB." in response.content.decode()


def test_a_second_file_with_the_same_name_is_refused_politely(client, team):
    upload(client, "visits.csv", CSV)
    response = upload(client, "visits.csv", CSV)
    assert response.status_code == 400
    assert "already has a dataset named" in response.content.decode()
    assert Dataset.objects.filter(team=team).count() == 1


# --- caps: uploads that cannot exhaust the server -------------------------------------------------------


def test_json_nested_100k_deep_is_refused_with_a_clear_message(client):
    deep = b"[" * 100_000 + b"]" * 100_000
    response = upload(client, "deep.json", deep)
    assert response.status_code == 400
    assert "“deep.json” is nested more than 64 levels deep" in response.content.decode()
    assert not Dataset.objects.exists()


def test_json_as_deep_as_allowed_goes_to_the_sandbox_profile(client):
    content = b'{"a": [' + b"[" * 62 + b"1" + b"]" * 62 + b"]}"
    dataset, _ = upload_and_profile(client, "nested.json", content)
    assert (dataset.status, dataset.row_count) == (Dataset.Status.READY, 1)


def test_a_300k_column_csv_is_refused_with_a_clear_message(client):
    header = ",".join(f"c{i}" for i in range(300_000)).encode()
    response = upload(client, "wide.csv", header + b"\n" + b"1," * 299_999 + b"1\n")
    assert response.status_code == 400
    assert "“wide.csv” has more than 2,000 columns (it has 300,000)." in response.content.decode()
    assert not Dataset.objects.exists()


def csv_of(columns: int, rows: int, value: str = "1") -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    return "\n".join([header, *[",".join([value] * columns)] * rows]).encode() + b"\n"


@pytest.mark.parametrize(
    ("setting", "content", "message"),
    [
        ("SANDGATE_DATASET_MAX_COLUMNS", csv_of(3, 2), "has more than 2 columns (it has 3)."),
        ("SANDGATE_DATASET_MAX_ROWS", csv_of(1, 3), "has more than 2 rows."),
        (
            "SANDGATE_DATASET_MAX_CELL_CHARS",
            csv_of(1, 1, value="abc"),
            "has a value longer than 2 characters",
        ),
        # a data row wider than its header is refused as well: the csv module would keep every field of it
        ("SANDGATE_DATASET_MAX_COLUMNS", b"a,b\n1,2,3\n", "has more than 2 columns (it has 3)."),
    ],
)
def test_a_csv_beyond_a_cap_is_refused_and_says_which(client, settings, setting, content, message):
    setattr(settings, setting, 2)
    response = upload(client, "capped.csv", content)
    assert response.status_code == 400
    assert f"“capped.csv” {message}" in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_csv_value_beyond_the_csv_modules_own_limit_is_a_clear_refusal(client, settings):
    settings.SANDGATE_DATASET_MAX_CELL_CHARS = 1_000_000
    response = upload(client, "long.csv", b'a\n"' + b"x" * 200_000 + b'"\n')
    assert response.status_code == 400
    assert "“long.csv” has a value longer than 131,072 characters (line 2)." in response.content.decode()


def test_a_column_name_longer_than_255_characters_is_refused(client):
    response = upload(client, "headerless.csv", b"x" * 256 + b"\n1\n")
    assert response.status_code == 400
    assert "has a column name longer than 255 characters" in response.content.decode()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("SANDGATE_DATASET_MAX_COLUMNS", "has more than 1 columns (it has 2)."),
        ("SANDGATE_DATASET_MAX_ROWS", "has more than 1 rows."),
        ("SANDGATE_DATASET_MAX_CELL_CHARS", "has a value longer than 1 characters (column city)."),
    ],
)
@pytest.mark.parametrize(
    ("name", "writer"),
    [("visits.xlsx", "to_excel"), ("visits.parquet", "to_parquet"), ("visits.json", "to_json")],
)
def test_the_sandbox_profile_refuses_a_file_beyond_a_cap_too(
    client, settings, tmp_path, name, writer, setting, message
):
    content = made_by_pandas(tmp_path, name, writer)
    setattr(settings, setting, 1)
    dataset, response = upload_and_profile(client, name, content)
    assert dataset.status == Dataset.Status.FAILED
    assert dataset.failure_reason.startswith(f"“{name}” {message}")
    assert f"“{name}” {message}" in response.content.decode()
    assert not selectors.dataset_preview(dataset=dataset)


def test_a_json_file_wider_than_the_column_cap_is_refused_by_the_sandbox_profile(client):
    wide = json.dumps({f"c{i}": [i] for i in range(2_001)}).encode()
    dataset, _ = upload_and_profile(client, "wide.json", wide)
    assert dataset.failure_reason.startswith("“wide.json” has more than 2,000 columns (it has 2,001).")


def test_a_parquet_file_as_wide_as_allowed_with_long_values_is_profiled_in_full(client, tmp_path):
    """The sandbox's answer has room for the largest profile the caps allow: 2,000 column names of 255
    characters and ten first rows of long values, in characters JSON writes in 12 bytes each."""
    path = tmp_path / "wide.parquet"
    script = (
        "import pandas as pd\n"
        "df = pd.DataFrame({f'{i:04}' + '😀' * 251: ['😀' * 101] * 10 for i in range(2000)})\n"
        f"df.to_parquet({str(path)!r})\n"
    )
    subprocess.run([str(settings.SANDBOX_RUNTIME_DIR / "bin" / "python"), "-c", script], check=True)
    dataset, _ = upload_and_profile(client, "wide.parquet", path.read_bytes())
    assert (dataset.status, dataset.row_count, len(dataset.columns)) == (Dataset.Status.READY, 10, 2000)
    assert dataset.columns[1999]["name"] == "1999" + "😀" * 251
    preview = selectors.dataset_preview(dataset=dataset)
    assert len(preview) == 10 and preview[9][1999] == "😀" * 100 + "…"


# --- lists stay small however wide a dataset is ------------------------------------------------------------


@pytest.fixture
def very_wide(team):
    """A dataset far wider than the caps allow today (as one stored before them could be)."""
    columns = [{"name": f"measurement_{i:06}", "dtype": "float64"} for i in range(50_000)]
    return Dataset.objects.create(team=team, name="wide.csv", row_count=3, columns=columns)


def test_the_dataset_list_api_stays_small_however_wide_a_dataset_is(analyst, as_user, very_wide):
    response = as_user(analyst).get("/api/datasets")
    assert response.status_code == 200
    assert len(response.content) < 1_500
    (item,) = response.json()["results"]
    assert item["columnCount"] == 50_000
    assert [c["name"] for c in item["firstColumns"]] == [f"measurement_{i:06}" for i in range(5)]
    assert "columns" not in item
    detail = as_user(analyst).get(f"/api/datasets/{very_wide.pk}").json()
    assert detail["columnCount"] == 50_000 and detail["columns"][-1]["name"] == "measurement_049999"


def test_the_datasets_page_stays_small_however_wide_a_dataset_is(client, very_wide):
    small = client.get("/datasets/")
    very_wide.columns = very_wide.columns[:1]
    very_wide.save()
    one_column = client.get("/datasets/")
    assert len(small.content) - len(one_column.content) < 200  # 50,000 columns or 1: the same page
    body = small.content.decode()
    assert "<td>50000 <span" in body and "measurement_000004, …" in body
    assert "measurement_000005" not in body


def test_another_teams_dataset_detail_is_404_in_the_api(as_user, analyst, other_team):
    theirs = Dataset.objects.create(
        team=other_team, name="theirs.csv", columns=[{"name": "x", "dtype": "int64"}]
    )
    assert as_user(analyst).get(f"/api/datasets/{theirs.pk}").status_code == 404
