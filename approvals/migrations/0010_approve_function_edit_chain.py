"""PostgreSQL only: `sandgate_request_approve` refuses anyone who edited this version or an earlier one.

As 0009_approve_function, but the `own_edit` refusal walks the version chain (`parent`): a reviewer who
edited version 1 into 2 approves neither version 2 nor any later version, however small a later edit is
(approvals.services.edit_chain_editor_ids is the ORM path's rule; tests/approvals/test_approve_function.py
requires both to refuse alike). The SQL is frozen here: a change is a new migration.
"""

import importlib

from django.db import migrations

from config.postgresql import run_sql_on_postgresql

PREVIOUS = importlib.import_module("approvals.migrations.0009_approve_function")

CREATE_SQL = r"""
CREATE OR REPLACE FUNCTION sandgate_request_approve(
    p_request_id uuid,
    p_reviewer_id integer,
    p_expected_sha256 text,    -- '' : the reviewer did not say which code they saw
    p_code_sha256 text,        -- the code hash the digest was computed over
    p_digest text,
    p_now timestamptz,
    p_expires_at timestamptz,
    p_expires_at_text text,    -- as Python's isoformat() writes it into the audit details
    p_execute boolean,         -- SANDGATE_EXECUTE_ON_APPROVAL
    p_sandbox_backend text,
    p_wall_seconds numeric,    -- the team's limits, priced like billing.services.execution_cost_estimate
    p_memory_gib numeric,
    p_unpriced numeric[],      -- per vCPU and GiB second: when no sandbox price is known
    p_lease_expires_at timestamptz,
    p_actor_label text,
    p_ip inet,
    p_user_agent text,
    OUT status text,
    OUT execution_id uuid,
    OUT warn_period_ids bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_team_id uuid;
    v_user_id integer;
    v_code_sha256 text;
    v_risk text;
    v_quorum integer;
    v_votes integer;
    v_needed integer;
    v_vcpu numeric;
    v_gib numeric;
BEGIN
    SELECT r.team_id, r.user_id INTO v_team_id, v_user_id
    FROM approvals_approvalrequest r WHERE r.id = p_request_id;
    IF NOT EXISTS (
        SELECT 1 FROM billing_membership m
        WHERE m.user_id = p_reviewer_id AND m.team_id = v_team_id AND m.role = 'reviewer'
    ) THEN
        RAISE EXCEPTION USING ERRCODE = 'SG403', MESSAGE = 'not_a_reviewer';
    END IF;
    IF v_user_id = p_reviewer_id THEN
        RAISE EXCEPTION USING ERRCODE = 'SG403', MESSAGE = 'self_approval';
    END IF;

    -- Locked until commit: concurrent votes count one after the other, so the last of a quorum sees all.
    SELECT r.status, r.code_sha256, r.risk_level, t.high_risk_quorum
    INTO status, v_code_sha256, v_risk, v_quorum
    FROM approvals_approvalrequest r JOIN billing_team t ON t.id = r.team_id
    WHERE r.id = p_request_id
    FOR UPDATE OF r;
    IF status <> 'pending_review' THEN
        RAISE EXCEPTION USING ERRCODE = 'SG409', MESSAGE = 'invalid_state', DETAIL = status;
    END IF;
    IF p_expected_sha256 <> '' AND p_expected_sha256 <> v_code_sha256 THEN
        RAISE EXCEPTION USING ERRCODE = 'SG409', MESSAGE = 'code_changed';
    END IF;
    -- Whoever edited this version or any earlier one wrote some of its code (approvals.services
    -- edit_chain_editor_ids): another reviewer approves it.
    IF EXISTS (
        WITH RECURSIVE chain(id, parent_id, edited_by_id, depth) AS (
            SELECT r.id, r.parent_id, r.edited_by_id, 1 FROM approvals_approvalrequest r WHERE r.id = p_request_id
            UNION ALL
            SELECT a.id, a.parent_id, a.edited_by_id, c.depth + 1
            FROM approvals_approvalrequest a JOIN chain c ON a.id = c.parent_id
            WHERE c.depth < 1000
        )
        SELECT 1 FROM chain WHERE chain.edited_by_id = p_reviewer_id
    ) THEN
        RAISE EXCEPTION USING ERRCODE = 'SG403', MESSAGE = 'own_edit';
    END IF;
    IF v_code_sha256 <> p_code_sha256 THEN
        RAISE EXCEPTION USING ERRCODE = 'SG409', MESSAGE = 'stale';
    END IF;
    IF EXISTS (SELECT 1 FROM approvals_approvalvote v WHERE v.request_id = p_request_id AND v.reviewer_id = p_reviewer_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'SG409', MESSAGE = 'voted';
    END IF;

    INSERT INTO approvals_approvalvote (request_id, reviewer_id, requester_id, approval_digest, created_at)
    VALUES (p_request_id, p_reviewer_id, v_user_id, p_digest, p_now);
    SELECT count(*) INTO v_votes FROM approvals_approvalvote v
    WHERE v.request_id = p_request_id AND v.approval_digest = p_digest;
    v_needed := CASE WHEN v_risk = 'high' THEN greatest(1, v_quorum) ELSE 1 END;
    INSERT INTO audit_auditevent (
        id, created_at, action, actor_id, actor_label, team_id, target_type, target_id, request_id,
        ip_address, user_agent, details, position, prev_hash, hash
    ) VALUES (
        gen_random_uuid(), p_now, 'request.vote_recorded', p_reviewer_id, p_actor_label, v_team_id,
        'approvals.approvalrequest', p_request_id::text, p_request_id, p_ip, p_user_agent,
        jsonb_build_object('code_sha256', v_code_sha256, 'votes', v_votes, 'needed', v_needed), NULL, '', ''
    );
    IF v_votes < v_needed THEN
        RETURN;
    END IF;

    status := 'approved';
    UPDATE approvals_approvalrequest SET
        status = 'approved', updated_at = p_now, reviewer_id = p_reviewer_id, decided_at = p_now,
        approved_code_sha256 = v_code_sha256, approval_digest = p_digest, approval_expires_at = p_expires_at
    WHERE id = p_request_id;
    INSERT INTO audit_auditevent (
        id, created_at, action, actor_id, actor_label, team_id, target_type, target_id, request_id,
        ip_address, user_agent, details, position, prev_hash, hash
    ) VALUES (
        gen_random_uuid(), p_now, 'request.approved', p_reviewer_id, p_actor_label, v_team_id,
        'approvals.approvalrequest', p_request_id::text, p_request_id, p_ip, p_user_agent,
        jsonb_build_object(
            'code_sha256', v_code_sha256,
            'approval_digest', p_digest,
            'reviewers', (
                SELECT coalesce(jsonb_agg(u.username ORDER BY v.created_at, v.id), '[]')
                FROM approvals_approvalvote v JOIN auth_user u ON u.id = v.reviewer_id
                WHERE v.request_id = p_request_id
            ),
            'expires_at', p_expires_at_text
        ),
        NULL, '', ''
    );
    IF NOT p_execute THEN
        RETURN;
    END IF;

    -- The run, priced like billing/services.py: the backend's price, else the dearest known, never free.
    SELECT usd_per_vcpu_second, usd_per_gib_second INTO v_vcpu, v_gib
    FROM billing_price WHERE kind = 'sandbox'
    ORDER BY name = p_sandbox_backend DESC, usd_per_vcpu_second + usd_per_gib_second DESC LIMIT 1;
    IF NOT FOUND THEN
        v_vcpu := p_unpriced[1];
        v_gib := p_unpriced[2];
    END IF;
    -- Over a budget the run is not queued and the approval stands; POST /api/execute answers the 402.
    BEGIN
        SELECT r.warn_period_ids INTO warn_period_ids
        FROM sandgate_budget_reserve(
            gen_random_uuid(), v_team_id, v_user_id, p_request_id, 'execution',
            p_wall_seconds * (v_vcpu + v_gib * p_memory_gib), p_lease_expires_at, p_now
        ) r;
    EXCEPTION WHEN SQLSTATE 'SG402' THEN
        RETURN;
    END;
    INSERT INTO analysis_execution (
        id, request_id, status, backend, code_sha256, stdout, stderr, error, results, limits,
        created_at, started_at, lease_expires_at, finished_at, duration_ms
    ) VALUES (
        gen_random_uuid(), p_request_id, 'queued', p_sandbox_backend, v_code_sha256, '', '', NULL, '[]', '{}',
        p_now, NULL, NULL, NULL, NULL
    ) RETURNING id INTO execution_id;
    status := 'queued';
    UPDATE approvals_approvalrequest SET status = 'queued', updated_at = p_now WHERE id = p_request_id;
    INSERT INTO audit_auditevent (
        id, created_at, action, actor_id, actor_label, team_id, target_type, target_id, request_id,
        ip_address, user_agent, details, position, prev_hash, hash
    ) VALUES (
        gen_random_uuid(), p_now, 'execution.queued', p_reviewer_id, p_actor_label, v_team_id,
        'analysis.execution', execution_id::text, p_request_id, p_ip, p_user_agent,
        jsonb_build_object('request_id', p_request_id::text, 'code_sha256', v_code_sha256), NULL, '', ''
    );
END
$$;

-- Only the application's role calls it (on Supabase, `public` functions are otherwise exposed over RPC).
REVOKE ALL ON FUNCTION sandgate_request_approve(
    uuid, integer, text, text, text, timestamptz, timestamptz, text, boolean, text, numeric, numeric, numeric[],
    timestamptz, text, inet, text
) FROM PUBLIC;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0009_approve_function"),
    ]

    operations = [run_sql_on_postgresql(CREATE_SQL, PREVIOUS.CREATE_SQL)]
