"""PostgreSQL only: `sandgate_execution_claim`, a worker's claim of a queued run in one call.

Claiming is on the path from approval to the run's first line: the execution and its request go from
queued to running, the start is audited and the run's budget hold gets a fresh lease, all in one
transaction. On the ORM path (what SQLite runs) that is five statements plus BEGIN and COMMIT, each a
round trip; this function does the same writes, in the same order, in one statement that is its own
transaction. The ORM path stays the reference: tests/analysis/test_claim_function.py requires both to
write the same rows and refuse alike.

Times come from Python as arguments (now, the run's lease, the hold's lease), so both paths write the same
values. The worker serves no HTTP request: the event is by 'system', without IP or user agent, as
audit_log records it there. It returns whether it claimed (false: the run was not queued, a redelivered
task). A request no longer queued refuses with SQLSTATE SG409 and the request's status as MESSAGE, and
nothing is written. The SQL is frozen here: a change is a new migration.
"""

from django.db import migrations

from config.migration_sql import run_sql_on_postgresql

CREATE_SQL = r"""
CREATE OR REPLACE FUNCTION sandgate_execution_claim(
    p_execution_id uuid,
    p_now timestamptz,
    p_lease_expires_at timestamptz,          -- the run's: past it, the reaper presumes the worker dead
    p_budget_lease_expires_at timestamptz    -- the run's budget hold's: past it, the sweeper releases it
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_request_id uuid;
    v_team_id uuid;
    v_status text;
BEGIN
    UPDATE analysis_execution
    SET status = 'running', started_at = p_now, lease_expires_at = p_lease_expires_at
    WHERE id = p_execution_id AND status = 'queued'
    RETURNING request_id INTO v_request_id;
    IF NOT FOUND THEN
        RETURN false;  -- claimed already (a redelivered task), or no such run
    END IF;

    UPDATE approvals_approvalrequest
    SET status = 'running', updated_at = p_now
    WHERE id = v_request_id AND status = 'queued'
    RETURNING team_id INTO v_team_id;
    IF NOT FOUND THEN  -- the whole call rolls back: the run stays queued
        SELECT r.status INTO v_status FROM approvals_approvalrequest r WHERE r.id = v_request_id;
        RAISE EXCEPTION USING ERRCODE = 'SG409', MESSAGE = v_status;
    END IF;

    INSERT INTO audit_auditevent (
        id, created_at, action, actor_id, actor_label, team_id, target_type, target_id, request_id,
        ip_address, user_agent, details, position, prev_hash, hash
    ) VALUES (
        gen_random_uuid(), p_now, 'execution.started', NULL, 'system', v_team_id, 'analysis.execution',
        p_execution_id::text, v_request_id, NULL, '', '{}', NULL, '', ''
    );

    -- In the claim's transaction: no moment where the run is claimed and its hold's lease is still the old
    -- one (the sweeper could release it).
    UPDATE billing_reservation
    SET lease_expires_at = p_budget_lease_expires_at
    WHERE request_id = v_request_id AND feature = 'execution' AND status = 'active';
    RETURN true;
END
$$;

-- Only the application's role calls it (on Supabase, `public` functions are otherwise exposed over RPC).
REVOKE ALL ON FUNCTION sandgate_execution_claim(uuid, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
"""

DROP_SQL = """
DROP FUNCTION IF EXISTS sandgate_execution_claim(uuid, timestamptz, timestamptz, timestamptz);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0006_plain_status_indexes"),
        ("approvals", "0008_plain_status_indexes"),
        ("audit", "0011_plain_action_index"),
        ("billing", "0007_plain_status_indexes"),
    ]

    operations = [run_sql_on_postgresql(CREATE_SQL, DROP_SQL)]
