// The seed flow with types generated from Sandgate's served schema (openapi-typescript) and openapi-fetch:
// analyze → poll → approve → execute → poll → spend as CSV and JSON → upload a dataset (multipart) and read it
// back → a 400 and a 403 read as the error type.
// Compiled with `tsc --strict` next to the generated `schema.d.ts`; no type assertions, no `any`.
// Prints what it saw as one JSON line; tests/clients/test_generated_clients.py checks it.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type ApiError = components["schemas"]["ApiError"];
type RequestStatus = components["schemas"]["RequestStatus"];
type ExecutionStatus = components["schemas"]["ExecutionStatus"];

const baseUrl = required("SANDGATE_URL");
const analyst = createClient<paths>({ baseUrl, headers: { Authorization: `Token ${required("ANALYST_TOKEN")}` } });
const reviewer = createClient<paths>({ baseUrl, headers: { Authorization: `Token ${required("REVIEWER_TOKEN")}` } });
const POLL_MS = 200;
const DEADLINE_MS = 120_000;
const VISITS = "city,visits\nLyon,3\nNantes,5\n";
const WAITING: RequestStatus[] = ["generating"];
const RUNNING: ExecutionStatus[] = ["waiting", "queued", "running"];

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set`);
  return value;
}

function failed(step: string, status: number, error: ApiError | undefined): Error {
  return new Error(`${step}: HTTP ${status} ${error ? `${error.error.code}: ${error.error.message}` : ""}`);
}

async function pause(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, POLL_MS));
}

async function requestWhenGenerated(requestId: string) {
  const until = Date.now() + DEADLINE_MS;
  for (;;) {
    const { data, error, response } = await analyst.GET("/api/requests/{request_id}", {
      params: { path: { request_id: requestId } },
    });
    if (!data) throw failed("requests_get", response.status, error);
    if (!WAITING.includes(data.status)) return data;
    if (Date.now() > until) throw new Error(`request ${requestId} still ${data.status}`);
    await pause();
  }
}

async function executionWhenFinished(executionId: string) {
  const until = Date.now() + DEADLINE_MS;
  for (;;) {
    const { data, error, response } = await analyst.GET("/api/executions/{execution_id}", {
      params: { path: { execution_id: executionId } },
    });
    if (!data) throw failed("executions_get", response.status, error);
    if (!RUNNING.includes(data.status)) return data;
    if (Date.now() > until) throw new Error(`execution ${executionId} still ${data.status}`);
    await pause();
  }
}

const asked = await analyst.POST("/api/analyze", {
  body: { query: "Load sales.csv and plot monthly revenue by region" },
});
if (!asked.data) throw failed("requests_analyze", asked.response.status, asked.error);
const generated = await requestWhenGenerated(asked.data.requestId);

const approved = await reviewer.POST("/api/approve", {
  body: { requestId: generated.requestId, approved: true, codeSha256: generated.codeSha256 },
});
if (!approved.data) throw failed("requests_approve", approved.response.status, approved.error);
const decision = approved.data.decision;

const started = await analyst.POST("/api/execute", { body: { requestId: generated.requestId } });
if (!started.data) throw failed("executions_start", started.response.status, started.error);
const execution = await executionWhenFinished(started.data.executionId);
const charts = execution.results.filter((item) => item.png !== undefined).length;

const csv = await analyst.GET("/api/spend.csv", { params: { query: { groupBy: "feature" } }, parseAs: "text" });
if (csv.data === undefined) throw failed("spend_csv", csv.response.status, csv.error);
const spend = await analyst.GET("/api/spend", { params: { query: { groupBy: "feature" } } });
if (!spend.data) throw failed("spend_get", spend.response.status, spend.error);

// The upload's `file` is typed as its content (format: binary); the form part gives it its file name.
const uploaded = await analyst.POST("/api/datasets", {
  body: { file: VISITS },
  bodySerializer(body) {
    const form = new FormData();
    form.append("file", new Blob([body.file], { type: "text/csv" }), "visits.csv");
    return form;
  },
});
if (!uploaded.data) throw failed("datasets_upload", uploaded.response.status, uploaded.error);
const shown = await analyst.GET("/api/datasets/{dataset_id}", {
  params: { path: { dataset_id: uploaded.data.id } },
});
if (!shown.data) throw failed("datasets_get", shown.response.status, shown.error);

// A 400 (no question) and a 403 (an analyst may not approve), each read as the one error type.
const empty = await analyst.POST("/api/analyze", { body: { query: "" } });
if (!empty.error) throw new Error(`an empty question was accepted: HTTP ${empty.response.status}`);
const selfApproved = await analyst.POST("/api/approve", { body: { requestId: generated.requestId, approved: true } });
if (!selfApproved.error) throw new Error(`an analyst approved: HTTP ${selfApproved.response.status}`);

console.log(
  JSON.stringify({
    requestStatus: generated.status,
    statusLabel: generated.statusLabel,
    plan: generated.plan,
    cardPlan: {
      text: generated.card.plan.text,
      columns: generated.card.plan.columns,
      findings: generated.card.plan.findings.map((finding) => finding.kind),
    },
    clarification: generated.clarification ? generated.clarification.missing : null,
    riskLevel: generated.riskLevel,
    approvedBy: decision ? decision.reviewer : null,
    approvalStatus: approved.data.status,
    executionStatus: execution.status,
    charts,
    stdout: execution.stdout.length > 0,
    csvHeader: csv.data.split("\n")[0],
    spendGroupBy: spend.data.groupBy,
    spendFeatures: spend.data.results.map((row) => row.feature ?? ""),
    upload: {
      status: uploaded.response.status,
      name: shown.data.name,
      datasetStatus: shown.data.status,
      columns: shown.data.columns.map((column) => column.name),
    },
    badRequest: {
      status: empty.response.status,
      code: empty.error.error.code,
      fields: Object.keys(empty.error.error.fields ?? {}),
      messages: empty.error.error.fields?.query ?? [],
    },
    forbidden: { status: selfApproved.response.status, code: selfApproved.error.error.code },
  }),
);
