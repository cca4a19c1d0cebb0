"""Uploading datasets from the page: CSV in the app, XLSX/Parquet/JSON profiled in the real sandbox."""

import subprocess

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from analysis.models import Dataset
from audit.models import AuditEvent

CSV = b"city,visits,opened\nLyon,3,2024-01-02\nNantes,5,2024-02-03\n"


@pytest.fixture
def client(analyst):
    client = Client()
    client.force_login(type(analyst).objects.get(pk=analyst.pk))
    return client


def upload(client, name: str, content: bytes, **extra):
    return client.post("/datasets/", {"file": SimpleUploadedFile(name, content), **extra}, follow=True)


def made_by_pandas(tmp_path, name: str, writer: str) -> bytes:
    """A real XLSX/Parquet file, written by the sandbox runtime's pandas (the app has no pandas)."""
    path = tmp_path / name
    script = (
        "import pandas as pd\n"
        "df = pd.DataFrame({'city': ['Lyon', 'Nantes', 'Lille'], 'visits': [3, 5, 8]})\n"
        f"df.{writer}({str(path)!r}{', index=False' if 'excel' in writer else ''})\n"
    )
    subprocess.run([str(settings.SANDBOX_RUNTIME_DIR / "bin" / "python"), "-c", script], check=True)
    return path.read_bytes()


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
    response = upload(client, name, content)
    dataset = Dataset.objects.get(team=team)
    assert dataset.row_count == 3
    # pandas 3 in the sandbox calls text columns "str"
    assert dataset.columns == [{"name": "city", "dtype": "str"}, {"name": "visits", "dtype": "int64"}]
    assert "<td>Lille</td>" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("visits.txt", CSV, "Dataset names are plain file names ending in .csv, .xlsx, .parquet, .json"),
        ("visits.csv", "ville,été\nLyon,1\n".encode("latin-1"), "is not UTF-8 text"),
        ("visits.xlsx", CSV, "is not a real Excel (XLSX) file"),
        ("visits.parquet", b"PAR1 but not really", "could not read"),
        ("visits.json", b'{"city": ["Lyon", ', "is not valid JSON"),
        ("visits.csv", b"", "The submitted file is empty."),
    ],
)
def test_bad_files_are_refused_with_a_clear_message_and_nothing_is_stored(client, name, content, message):
    response = upload(client, name, content)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Dataset.objects.exists()


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
