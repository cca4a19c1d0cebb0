"""Datasets, previews and artifacts in a bucket (moto's S3 server, the real wire protocol) when one is named;
served through Sandgate, never by a bucket URL. tests/test_separate_machines.py runs web and worker apart."""

from __future__ import annotations

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from analysis.models import Artifact, Dataset
from analysis.services.execution import execution_run, execution_start
from approvals.services import approval_request_approve
from tests.factories import ApprovalRequestFactory
from tests.uploads import made_by_pandas, profile_waiting

WRITES_A_FILE = """
import pandas as pd
df = pd.read_csv("/data/visits.csv")
df.groupby("city")["visits"].sum().to_csv("/output/by_city.csv")
print(len(df))
"""
CSV = b"city,visits\nLyon,3\nNantes,5\nLyon,4\n"


def keys(s3_server, bucket: str) -> list[str]:
    listed = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(item["Key"] for item in listed)


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_uploads_previews_and_artifacts_live_in_the_bucket_and_are_served_by_sandgate(
    bucket, s3_server, settings, team, analyst, reviewer, as_user, prices, tmp_path
):
    client = as_user(analyst)
    upload = client.post("/api/datasets", {"file": SimpleUploadedFile("visits.csv", CSV)}, format="multipart")
    assert upload.status_code == 201, upload.json()
    xlsx = made_by_pandas(tmp_path, "towns.xlsx", "to_excel")
    client.post("/api/datasets", {"file": SimpleUploadedFile("towns.xlsx", xlsx)}, format="multipart")
    profile_waiting()  # the worker fetches the XLSX from the bucket into its cache

    dataset = Dataset.objects.get(name="visits.csv")
    towns = Dataset.objects.get(name="towns.xlsx")
    assert towns.status == Dataset.Status.READY, towns.failure_reason
    prefix, towns_prefix = f"datasets/{team.pk}/{dataset.pk}/", f"datasets/{team.pk}/{towns.pk}/"
    assert keys(s3_server, bucket) == sorted(
        [
            f"{prefix}preview.json",
            f"{prefix}visits.csv",
            f"{towns_prefix}preview.json",
            f"{towns_prefix}towns.xlsx",
        ]
    )
    browser = Client()
    browser.force_login(type(analyst).objects.get(pk=analyst.pk))
    assert "<td>Nantes</td>" in browser.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "<td>Lille</td>" in browser.get(f"/datasets/{towns.pk}/").content.decode()

    request = ApprovalRequestFactory(user=analyst, team=team, code=WRITES_A_FILE, risk_level="low")
    request.datasets.set([dataset])
    approval_request_approve(request=request, reviewer=reviewer)
    execution = execution_run(execution_id=execution_start(request=request, user=analyst)[0].pk)
    assert execution.status == "succeeded", execution.error
    artifact = Artifact.objects.get(execution=execution)
    assert artifact.file.name in keys(s3_server, bucket)

    response = client.get(f"/api/executions/{execution.pk}/artifacts/by_city.csv")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"city,visits\nLyon,7\nNantes,5\n"
    assert response["Content-Disposition"] == 'attachment; filename="by_city.csv"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert bucket not in str(response.headers) and s3_server.url not in str(response.headers)
    assert files_under(Path(settings.MEDIA_ROOT)) == []  # nothing on the web machine's disk


def test_the_console_shows_where_a_dataset_is_stored_without_a_link_into_the_bucket(bucket, s3_server, team):
    from tests.factories import UserFactory, demo_dataset

    dataset = demo_dataset(team)
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    admin.save()
    browser = Client()
    browser.force_login(admin)
    page = browser.get(f"/admin/analysis/dataset/{dataset.pk}/change/").content.decode()
    assert dataset.file.name in page
    assert s3_server.url not in page and "X-Amz-Signature" not in page
