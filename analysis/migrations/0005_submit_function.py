"""PostgreSQL only: `sandgate_analysis_submit`, a question recorded for `POST /api/analyze` in one call.

Asking writes a session (or locks the one continued), the request and its datasets, the generation's
budget hold, the conversation's message and two audit events: on the ORM path (what SQLite runs) some
fifteen statements, each built in Python and each a round trip. This function does the same in one call
whose plans PL/pgSQL keeps for the connection. The ORM path stays the reference:
tests/analysis/test_submit_function.py requires both to write the same rows and refuse alike.

Settings and constants stay in Python and arrive as arguments (the models, the sandbox limits, the token
estimates, the unpriced fallbacks, the idle cutoff), so only the choices and the writes are here.
Refusals are SQLSTATEs the caller maps to its errors: SG403 (no team to ask for), SG404 (MESSAGE 'session'
or 'dataset'), SG409 (MESSAGE 'idle' or the session's status), and sandgate_budget_reserve's SG402, whose
DETAIL gains the amount refused. The SQL is frozen here: a change is a new migration.
"""

from django.db import migrations

from config.migration_sql import run_sql_on_postgresql

CREATE_SQL = r"""
CREATE OR REPLACE FUNCTION sandgate_analysis_submit(
    p_user_id integer,
    p_query text,
    p_query_lower text,        -- Python's str.lower(): dataset names are ASCII, the question may not be
    p_session_id uuid,         -- NULL: a new session
    p_dataset_ids uuid[],      -- empty: the datasets named in the question, else the session's last, else the only one
    p_team_id uuid,            -- NULL or not one of the user's asking teams: the first by slug
    p_roles text[],            -- the membership roles that may ask
    p_model text,              -- the model that generates
    p_may_downgrade boolean,   -- whether a team's cheaper model applies above a soft threshold (Mistral)
    p_tokens integer[],        -- estimated prompt tokens, output tokens, calls
    p_sandbox_backend text,
    p_wall_seconds numeric,
    p_memory_gib numeric,
    p_unpriced numeric[],      -- per Mtok in and out, per vCPU and GiB second: when no price is known
    p_idle_cutoff timestamptz,
    p_now timestamptz,
    p_lease_expires_at timestamptz,
    p_actor_label text,
    p_ip inet,
    p_user_agent text,
    OUT request_id uuid,
    OUT session_id uuid,
    OUT team_id uuid,
    OUT budget_estimate numeric,
    OUT warn_period_ids bigint[],
    OUT above_period_ids bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_model text := p_model;
    v_cheaper text;
    v_session_status text;
    v_session_activity timestamptz;
    v_previous uuid;
    v_dataset_ids uuid[];
    v_dataset_names text[];
    v_in numeric;
    v_out numeric;
    v_vcpu numeric;
    v_gib numeric;
    v_generation numeric;
    v_message text;
    v_detail text;
BEGIN
    -- The team: only ever one the user may ask in.
    SELECT t.id, coalesce(t.budget_downgrade_model, '') INTO team_id, v_cheaper
    FROM billing_team t
    WHERE t.id IN (SELECT m.team_id FROM billing_membership m WHERE m.user_id = p_user_id AND m.role = ANY (p_roles))
    ORDER BY (t.id = p_team_id) IS TRUE DESC, t.slug
    LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SG403', MESSAGE = 'no_team';
    END IF;

    -- The session: a new one, or the user's own in that team, active and not idle (locked until commit).
    IF p_session_id IS NULL THEN
        INSERT INTO analysis_session (id, user_id, team_id, title, status, metadata, created_at, last_activity_at)
        VALUES (gen_random_uuid(), p_user_id, team_id, left(p_query, 200), 'active', '{}', p_now, p_now)
        RETURNING id INTO session_id;
        INSERT INTO audit_auditevent (
            id, created_at, action, actor_id, actor_label, team_id, target_type, target_id, request_id,
            ip_address, user_agent, details, position, prev_hash, hash
        ) VALUES (
            gen_random_uuid(), p_now, 'session.created', p_user_id, p_actor_label, team_id, 'analysis.session',
            session_id::text, NULL, p_ip, p_user_agent, '{}', NULL, '', ''
        );
    ELSE
        SELECT s.id, s.status, s.last_activity_at INTO session_id, v_session_status, v_session_activity
        FROM analysis_session s
        WHERE s.id = p_session_id AND s.user_id = p_user_id AND s.team_id = sandgate_analysis_submit.team_id
        FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'SG404', MESSAGE = 'session';
        END IF;
        IF v_session_status <> 'active' THEN
            RAISE EXCEPTION USING ERRCODE = 'SG409', MESSAGE = v_session_status;
        END IF;
        IF v_session_activity < p_idle_cutoff THEN
            RAISE EXCEPTION USING ERRCODE = 'SG409', MESSAGE = 'idle';
        END IF;
    END IF;

    -- The datasets, in name order.
    IF cardinality(p_dataset_ids) > 0 THEN
        SELECT array_agg(d.id ORDER BY d.name), array_agg(d.name ORDER BY d.name) INTO v_dataset_ids, v_dataset_names
        FROM analysis_dataset d WHERE d.team_id = sandgate_analysis_submit.team_id AND d.id = ANY (p_dataset_ids);
        IF coalesce(cardinality(v_dataset_ids), 0) <> (SELECT count(DISTINCT x) FROM unnest(p_dataset_ids) x) THEN
            RAISE EXCEPTION USING ERRCODE = 'SG404', MESSAGE = 'dataset';
        END IF;
    ELSE
        SELECT array_agg(d.id ORDER BY d.name), array_agg(d.name ORDER BY d.name) INTO v_dataset_ids, v_dataset_names
        FROM analysis_dataset d
        WHERE d.team_id = sandgate_analysis_submit.team_id AND strpos(p_query_lower, lower(d.name)) > 0;
        IF v_dataset_ids IS NULL AND p_session_id IS NOT NULL THEN  -- a follow-up: the previous question's
            SELECT r.id INTO v_previous FROM approvals_approvalrequest r
            WHERE r.session_id = sandgate_analysis_submit.session_id ORDER BY r.created_at DESC LIMIT 1;
            IF FOUND THEN
                SELECT coalesce(array_agg(d.id ORDER BY d.name), '{}'), coalesce(array_agg(d.name ORDER BY d.name), '{}')
                INTO v_dataset_ids, v_dataset_names
                FROM analysis_dataset d
                JOIN approvals_approvalrequest_datasets rd ON rd.dataset_id = d.id
                WHERE rd.approvalrequest_id = v_previous;
            END IF;
        END IF;
        IF v_dataset_ids IS NULL THEN
            SELECT array_agg(d.id), array_agg(d.name) INTO v_dataset_ids, v_dataset_names
            FROM analysis_dataset d WHERE d.team_id = sandgate_analysis_submit.team_id
            HAVING count(*) = 1;
        END IF;
    END IF;

    -- The generation's model: the team's cheaper one once an applicable budget is at its soft threshold.
    IF p_may_downgrade AND v_cheaper NOT IN ('', p_model) AND EXISTS (
        SELECT 1 FROM billing_budget b
        LEFT JOIN billing_budgetperiod p
          ON p.budget_id = b.id AND p.period_start = sandgate_budget_period_start(b.period, p_now)
        WHERE b.team_id = sandgate_analysis_submit.team_id AND b.is_active
          AND (b.scope = 'team' OR (b.scope = 'user' AND b.user_id = p_user_id))
          AND coalesce(p.spent_usd, 0) + coalesce(p.reserved_usd, 0) >= b.limit_usd * b.soft_threshold
    ) THEN
        v_model := v_cheaper;
    END IF;

    -- Priced like billing/services.py: the model's or backend's price, else the dearest known, never free.
    SELECT input_usd_per_mtok, output_usd_per_mtok INTO v_in, v_out
    FROM billing_price WHERE kind = 'llm'
    ORDER BY name = v_model DESC, input_usd_per_mtok + output_usd_per_mtok DESC LIMIT 1;
    IF NOT FOUND THEN
        v_in := p_unpriced[1];
        v_out := p_unpriced[2];
    END IF;
    SELECT usd_per_vcpu_second, usd_per_gib_second INTO v_vcpu, v_gib
    FROM billing_price WHERE kind = 'sandbox'
    ORDER BY name = p_sandbox_backend DESC, usd_per_vcpu_second + usd_per_gib_second DESC LIMIT 1;
    IF NOT FOUND THEN
        v_vcpu := p_unpriced[3];
        v_gib := p_unpriced[4];
    END IF;
    v_generation := (v_in * p_tokens[1] + v_out * p_tokens[2]) / 1000000 * p_tokens[3];
    budget_estimate := v_generation + p_wall_seconds * (v_vcpu + v_gib * p_memory_gib);

    INSERT INTO approvals_approvalrequest (
        id, query, code, code_sha256, approved_code_sha256, user_id, team_id, session_id, parent_id, version,
        edited_by_id, risk_level, findings, policy_reason, approval_digest, approval_expires_at, budget_estimate,
        status, provider, model, generation_error, generation_lease_expires_at, reviewer_id, rejection_reason,
        created_at, updated_at, decided_at
    ) VALUES (
        gen_random_uuid(), p_query, '', '', '', p_user_id, team_id, session_id, NULL, 1,
        NULL, '', '[]', '', '', NULL, budget_estimate,
        'generating', '', '', '', NULL, NULL, '',
        p_now, p_now, NULL
    ) RETURNING id, approvals_approvalrequest.budget_estimate INTO request_id, budget_estimate;
    INSERT INTO approvals_approvalrequest_datasets (approvalrequest_id, dataset_id)
    SELECT request_id, x FROM unnest(v_dataset_ids) x;

    -- Over a budget, the whole call rolls back: the analyst gets 402 and nothing is written.
    BEGIN
        SELECT r.warn_period_ids, r.above_period_ids INTO warn_period_ids, above_period_ids
        FROM sandgate_budget_reserve(
            gen_random_uuid(), team_id, p_user_id, request_id, 'generation', v_generation, p_lease_expires_at, p_now
        ) r;
    EXCEPTION WHEN SQLSTATE 'SG402' THEN
        GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION USING
            ERRCODE = 'SG402',
            MESSAGE = v_message,
            DETAIL = (v_detail::jsonb || jsonb_build_object('amount_usd', trim_scale(v_generation)::text))::text;
    END;

    INSERT INTO analysis_message (id, session_id, role, content, request_id, created_at)
    VALUES (gen_random_uuid(), session_id, 'user', p_query, request_id, p_now);
    IF p_session_id IS NOT NULL THEN
        UPDATE analysis_session SET last_activity_at = p_now WHERE id = session_id;
    END IF;
    INSERT INTO audit_auditevent (
        id, created_at, action, actor_id, actor_label, team_id, target_type, target_id, request_id,
        ip_address, user_agent, details, position, prev_hash, hash
    ) VALUES (
        gen_random_uuid(), p_now, 'request.created', p_user_id, p_actor_label, team_id, 'approvals.approvalrequest',
        request_id::text, request_id, p_ip, p_user_agent,
        jsonb_build_object('session_id', session_id::text, 'datasets', to_jsonb(coalesce(v_dataset_names, '{}'))),
        NULL, '', ''
    );
END
$$;

-- Only the application's role calls it (on Supabase, `public` functions are otherwise exposed over RPC).
REVOKE ALL ON FUNCTION sandgate_analysis_submit(
    integer, text, text, uuid, uuid[], uuid, text[], text, boolean, integer[], text, numeric, numeric, numeric[],
    timestamptz, timestamptz, timestamptz, text, inet, text
) FROM PUBLIC;
"""

DROP_SQL = """
DROP FUNCTION IF EXISTS sandgate_analysis_submit(
    integer, text, text, uuid, uuid[], uuid, text[], text, boolean, integer[], text, numeric, numeric, numeric[],
    timestamptz, timestamptz, timestamptz, text, inet, text
);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0004_interrupted"),
        ("approvals", "0007_request_detail_function"),
        ("audit", "0010_audit_actions_login_limit"),
        ("billing", "0006_reserve_returns_periods_above_threshold"),
    ]

    operations = [run_sql_on_postgresql(CREATE_SQL, DROP_SQL)]
