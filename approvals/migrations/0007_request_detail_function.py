"""PostgreSQL only: `sandgate_request_detail`, a request as `GET /api/requests/{id}` shows it, in one call.

The detail is what clients poll while a request is generated, reviewed and run, so it is the API's
hottest read. The ORM path (`ApprovalRequestDetailSerializer`, what SQLite runs) needs five queries and
builds each of them in Python; this function answers with one call whose plan PL/pgSQL keeps for the
connection. The serializer stays the reference: tests/approvals/test_detail_function.py requires both to
give the same document for requests in every state. The card's code facts (what the code reads, writes,
imports and draws, and the diff to the previous version) stay in Python (approvals/policy.py); the function
returns what they need (`_datasets`). The SQL is frozen here: a change is a new migration.
"""

from django.db import migrations

from config.migration_sql import run_sql_on_postgresql

CREATE_SQL = r"""
-- A timestamp as DRF's DateTimeField writes it in UTC: ISO 8601, 'Z', microseconds only when not zero.
CREATE OR REPLACE FUNCTION sandgate_json_datetime(t timestamptz)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN t IS NULL THEN NULL
        WHEN extract(microseconds FROM t)::bigint % 1000000 = 0
            THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
        ELSE to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    END
$$;

-- The request p_request as p_viewer may see it (analysts their own in their teams, reviewers and
-- auditors their teams'), or NULL: the caller answers 404 for missing and hidden alike.
-- Field names and order are ApprovalRequestDetailSerializer's; the card's cost is held against the
-- tightest active budget of the requester in the request's team at p_now (approvals/selectors.py).
CREATE OR REPLACE FUNCTION sandgate_request_detail(p_request uuid, p_viewer integer, p_now timestamptz)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    doc text;
BEGIN
    SELECT json_build_object(
        'requestId', r.id,
        'query', r.query,
        'code', r.code,
        'codeSha256', r.code_sha256,
        'status', r.status,
        'approvalStatus', r.status,
        'userId', r.user_id,
        'user', requester.username,
        'teamId', r.team_id,
        'sessionId', r.session_id,
        'datasets', coalesce(datasets.refs, '[]'),
        'budgetEstimate', r.budget_estimate,
        'provider', r.provider,
        'model', r.model,
        'offline', r.provider = 'offline',
        'generationError', r.generation_error,
        'reviewerId', r.reviewer_id,
        'reviewer', reviewer.username,
        'rejectionReason', r.rejection_reason,
        'decision', CASE WHEN r.decided_at IS NOT NULL THEN json_build_object(
            'approved', r.approved_code_sha256 <> '',
            'reviewer', reviewer.username,
            'reviewerId', r.reviewer_id,
            'reason', r.rejection_reason,
            'decidedAt', sandgate_json_datetime(r.decided_at)
        ) END,
        'execution', CASE WHEN e.id IS NOT NULL THEN json_build_object(
            'executionId', e.id,
            'status', e.status,
            'backend', e.backend,
            'durationMs', e.duration_ms,
            'startedAt', sandgate_json_datetime(e.started_at),
            'finishedAt', sandgate_json_datetime(e.finished_at)
        ) END,
        'createdAt', sandgate_json_datetime(r.created_at),
        'decidedAt', sandgate_json_datetime(r.decided_at),
        'version', r.version,
        'parentId', r.parent_id,
        'editedById', r.edited_by_id,
        'riskLevel', r.risk_level,
        'findings', (
            SELECT coalesce(json_agg(json_build_object(
                'rule', f ->> 'rule', 'severity', f ->> 'severity',
                'line', (f ->> 'line')::integer, 'message', f ->> 'message'
            ) ORDER BY n), '[]')
            FROM jsonb_array_elements(r.findings) WITH ORDINALITY AS found(f, n)
        ),
        'policyReason', r.policy_reason,
        'approvalExpiresAt', sandgate_json_datetime(r.approval_expires_at),
        'card', json_build_object(
            'cost', json_build_object(
                'estimateUsd', r.budget_estimate,
                'remainingBudgetUsd', tightest.remaining,
                'note', CASE WHEN tightest.scope IS NULL THEN 'No budget applies.'
                        ELSE tightest.scope || ' ' || tightest.period || ' budget' END
            ),
            'risk', json_build_object(
                'level', r.risk_level,
                'findings', r.findings,
                'approvalsNeeded', CASE WHEN r.risk_level = 'high' THEN greatest(1, t.high_risk_quorum) ELSE 1 END,
                'approvals', (
                    SELECT coalesce(json_agg(voter.username ORDER BY v.created_at, v.id), '[]')
                    FROM approvals_approvalvote v JOIN auth_user voter ON voter.id = v.reviewer_id
                    WHERE v.request_id = r.id
                )
            )
        ),
        'previousVersion', CASE WHEN parent.id IS NOT NULL THEN json_build_object(
            'requestId', parent.id,
            'version', parent.version,
            'status', parent.status,
            'code', parent.code,
            'codeSha256', parent.code_sha256
        ) END,
        'nextVersionId', CASE WHEN r.status IN ('rejected', 'superseded') THEN (
            SELECT newest.id FROM approvals_approvalrequest newest
            WHERE newest.parent_id = r.id ORDER BY newest.version DESC LIMIT 1
        ) END,
        '_datasets', coalesce(datasets.facts, '[]')
    )::text
    INTO doc
    FROM approvals_approvalrequest r
    JOIN auth_user requester ON requester.id = r.user_id
    JOIN billing_team t ON t.id = r.team_id
    LEFT JOIN auth_user reviewer ON reviewer.id = r.reviewer_id
    LEFT JOIN analysis_execution e ON e.request_id = r.id
    LEFT JOIN approvals_approvalrequest parent ON parent.id = r.parent_id
    LEFT JOIN LATERAL (
        SELECT json_agg(json_build_object('id', d.id, 'name', d.name) ORDER BY d.name, d.id) AS refs,
               json_agg(json_build_object('name', d.name, 'columns', d.columns) ORDER BY d.name, d.id) AS facts
        FROM approvals_approvalrequest_datasets chosen
        JOIN analysis_dataset d ON d.id = chosen.dataset_id
        WHERE chosen.approvalrequest_id = r.id
    ) datasets ON true
    LEFT JOIN LATERAL (
        -- 0.000000, not 0: a used-up budget's remaining amount still reads as a decimal number
        SELECT greatest(b.limit_usd - coalesce(p.spent_usd, 0) - coalesce(p.reserved_usd, 0), 0.000000)
                   AS remaining,
               b.scope, b.period
        FROM billing_budget b
        LEFT JOIN billing_budgetperiod p
          ON p.budget_id = b.id AND p.period_start = sandgate_budget_period_start(b.period, p_now)
        WHERE b.team_id = r.team_id AND b.is_active
          AND (b.scope = 'team' OR (b.scope = 'user' AND b.user_id = r.user_id))
        ORDER BY 1, b.scope, b.id
        LIMIT 1
    ) tightest ON true
    WHERE r.id = p_request
      AND EXISTS (
          SELECT 1 FROM billing_membership m
          WHERE m.user_id = p_viewer AND m.team_id = r.team_id
            AND (r.user_id = p_viewer OR m.role IN ('reviewer', 'auditor'))
      );
    RETURN doc;
END
$$;

-- Only the application's role calls it (on Supabase, `public` functions are otherwise exposed over RPC).
REVOKE ALL ON FUNCTION sandgate_request_detail(uuid, integer, timestamptz) FROM PUBLIC;
"""

DROP_SQL = """
DROP FUNCTION IF EXISTS sandgate_request_detail(uuid, integer, timestamptz);
DROP FUNCTION IF EXISTS sandgate_json_datetime(timestamptz);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0006_interrupted"),
        ("analysis", "0004_interrupted"),
        ("billing", "0005_billing_reserve_function"),
    ]

    operations = [run_sql_on_postgresql(CREATE_SQL, DROP_SQL)]
