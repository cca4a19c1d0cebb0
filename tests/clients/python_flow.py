"""The seed flow with the Python client generated from Sandgate's served schema (openapi-python-client).

analyze → poll → approve → execute → poll → spend as CSV and JSON → upload a dataset (multipart) and read it
back → a 400 and a 403 read as the error type.
Checked with `mypy --strict` next to the generated `sandgate_client` package: no casts, no `Any`, every
answer narrowed by its type. Prints what it saw as one JSON line; tests/clients/test_generated_clients.py
checks it. Reads SANDGATE_URL, ANALYST_TOKEN and REVIEWER_TOKEN from the environment.
"""

from __future__ import annotations

import json
import os
import time
from http import HTTPStatus
from io import BytesIO
from uuid import UUID

from sandgate_client import AuthenticatedClient
from sandgate_client.api.datasets import datasets_get, datasets_upload
from sandgate_client.api.executions import executions_get, executions_start
from sandgate_client.api.requests import requests_analyze, requests_approve, requests_get
from sandgate_client.api.spend import spend_csv, spend_get
from sandgate_client.models import (
    AnalyzeInput,
    AnalyzeOutput,
    ApiError,
    ApprovalRequestDetail,
    ApproveInput,
    CostFeature,
    Dataset,
    DatasetUploadInput,
    ExecuteInput,
    ExecuteOutput,
    Execution,
    ExecutionStatus,
    RequestStatus,
    SpendGroup,
    SpendReport,
)
from sandgate_client.types import UNSET, File, Unset

POLL_SECONDS = 0.2
DEADLINE_SECONDS = 120.0
VISITS = b"city,visits\nLyon,3\nNantes,5\n"
RUNNING = (ExecutionStatus.WAITING, ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


class FlowError(Exception):
    pass


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise FlowError(f"{name} is not set")
    return value


def client(token_name: str) -> AuthenticatedClient:
    return AuthenticatedClient(base_url=required("SANDGATE_URL"), token=required(token_name), prefix="Token")


def failed(step: str, status: HTTPStatus, answer: object) -> FlowError:
    detail = f"{answer.error.code}: {answer.error.message}" if isinstance(answer, ApiError) else ""
    return FlowError(f"{step}: HTTP {status} {detail}")


def request_when_generated(analyst: AuthenticatedClient, request_id: UUID) -> ApprovalRequestDetail:
    until = time.monotonic() + DEADLINE_SECONDS
    while True:
        answer = requests_get.sync_detailed(request_id, client=analyst)
        if not isinstance(answer.parsed, ApprovalRequestDetail):
            raise failed("requests_get", answer.status_code, answer.parsed)
        if answer.parsed.status != RequestStatus.GENERATING:
            return answer.parsed
        if time.monotonic() > until:
            raise FlowError(f"request {request_id} still {answer.parsed.status}")
        time.sleep(POLL_SECONDS)


def execution_when_finished(analyst: AuthenticatedClient, execution_id: UUID) -> Execution:
    until = time.monotonic() + DEADLINE_SECONDS
    while True:
        answer = executions_get.sync_detailed(execution_id, client=analyst)
        if not isinstance(answer.parsed, Execution):
            raise failed("executions_get", answer.status_code, answer.parsed)
        if answer.parsed.status not in RUNNING:
            return answer.parsed
        if time.monotonic() > until:
            raise FlowError(f"execution {execution_id} still {answer.parsed.status}")
        time.sleep(POLL_SECONDS)


def main() -> dict[str, object]:
    analyst, reviewer = client("ANALYST_TOKEN"), client("REVIEWER_TOKEN")

    asked = requests_analyze.sync_detailed(
        client=analyst, body=AnalyzeInput(query="Load sales.csv and plot monthly revenue by region")
    )
    if not isinstance(asked.parsed, AnalyzeOutput):
        raise failed("requests_analyze", asked.status_code, asked.parsed)
    generated = request_when_generated(analyst, asked.parsed.request_id)

    approved = requests_approve.sync_detailed(
        client=reviewer,
        body=ApproveInput(
            request_id=generated.request_id, approved=True, code_sha_256=generated.code_sha_256
        ),
    )
    if not isinstance(approved.parsed, ApprovalRequestDetail):
        raise failed("requests_approve", approved.status_code, approved.parsed)
    decision = approved.parsed.decision

    started = executions_start.sync_detailed(
        client=analyst, body=ExecuteInput(request_id=generated.request_id)
    )
    if not isinstance(started.parsed, ExecuteOutput):
        raise failed("executions_start", started.status_code, started.parsed)
    execution = execution_when_finished(analyst, started.parsed.execution_id)
    charts = sum(1 for item in execution.results if item.png is not UNSET)

    csv = spend_csv.sync_detailed(client=analyst, group_by=SpendGroup.FEATURE)
    if not isinstance(csv.parsed, str):
        raise failed("spend_csv", csv.status_code, csv.parsed)
    spend = spend_get.sync_detailed(client=analyst, group_by=SpendGroup.FEATURE)
    if not isinstance(spend.parsed, SpendReport):
        raise failed("spend_get", spend.status_code, spend.parsed)
    rows = spend.parsed.results
    features = [row.feature.value if isinstance(row.feature, CostFeature) else "" for row in rows]

    visits = File(payload=BytesIO(VISITS), file_name="visits.csv", mime_type="text/csv")
    uploaded = datasets_upload.sync_detailed(client=analyst, body=DatasetUploadInput(file=visits))
    if not isinstance(uploaded.parsed, Dataset):
        raise failed("datasets_upload", uploaded.status_code, uploaded.parsed)
    shown = datasets_get.sync_detailed(uploaded.parsed.id, client=analyst)
    if not isinstance(shown.parsed, Dataset):
        raise failed("datasets_get", shown.status_code, shown.parsed)

    # A 400 (no question) and a 403 (an analyst may not approve), each read as the one error type.
    empty = requests_analyze.sync_detailed(client=analyst, body=AnalyzeInput(query=""))
    if not isinstance(empty.parsed, ApiError):
        raise FlowError(f"an empty question was accepted: HTTP {empty.status_code}")
    fields = empty.parsed.error.fields
    messages = {} if isinstance(fields, Unset) else fields.additional_properties
    self_approved = requests_approve.sync_detailed(
        client=analyst, body=ApproveInput(request_id=generated.request_id, approved=True)
    )
    if not isinstance(self_approved.parsed, ApiError):
        raise FlowError(f"an analyst approved: HTTP {self_approved.status_code}")

    return {
        "requestStatus": generated.status.value,
        "statusLabel": generated.status_label,
        "plan": generated.plan,
        "cardPlan": {
            "text": generated.card.plan.text,
            "columns": generated.card.plan.columns,
            "findings": [finding.kind.value for finding in generated.card.plan.findings],
        },
        "clarification": None if generated.clarification is None else generated.clarification.missing,
        "riskLevel": generated.risk_level.value,
        "approvedBy": decision.reviewer if decision is not None else None,
        "approvalStatus": approved.parsed.status.value,
        "executionStatus": execution.status.value,
        "charts": charts,
        "stdout": bool(execution.stdout),
        "csvHeader": csv.parsed.split("\n")[0],
        "spendGroupBy": spend.parsed.group_by.value,
        "spendFeatures": features,
        "upload": {
            "status": int(uploaded.status_code),
            "name": shown.parsed.name,
            "datasetStatus": shown.parsed.status.value,
            "columns": [column.name for column in shown.parsed.columns],
        },
        "badRequest": {
            "status": int(empty.status_code),
            "code": empty.parsed.error.code.value,
            "fields": list(messages),
            "messages": messages.get("query", []),
        },
        "forbidden": {
            "status": int(self_approved.status_code),
            "code": self_approved.parsed.error.code.value,
        },
    }


if __name__ == "__main__":
    print(json.dumps(main()))
