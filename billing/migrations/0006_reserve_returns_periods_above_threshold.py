"""PostgreSQL only: `sandgate_budget_reserve` also returns the periods at or above their soft threshold.

`POST /api/analyze` and `POST /api/execute` answer with a budget warning when a budget is above its soft
threshold; the reservation they just made knows, so the warning's own query runs only when it returns any.
Its OUT parameters change, so the function is dropped and created again (in one transaction).
"""

from importlib import import_module

from django.db import migrations

from config.migration_sql import run_sql_on_postgresql

CREATE_SQL = r"""
DROP FUNCTION IF EXISTS sandgate_budget_reserve(uuid, uuid, integer, uuid, text, numeric, timestamptz, timestamptz);

-- Hold p_amount against every active budget of the team and of the user in it, and record the reservation;
-- or raise SQLSTATE SG402 (the statement, and every hold it made, rolls back) naming the refusing period.
-- Budget period rows are updated in ascending id order, like every other writer of them (no deadlocks),
-- each with the conditional `spent + reserved + amount <= limit`. The reservation row is inserted before
-- the hot period rows are locked, so their locks are held only for the updates and the commit.
-- Returns the period ids held (ascending), those now at or above their soft threshold and not yet warned,
-- and all those now at or above it (the answer's budget warning needs a query only when there are any).
CREATE OR REPLACE FUNCTION sandgate_budget_reserve(
    p_reservation_id uuid,
    p_team_id uuid,
    p_user_id integer,
    p_request_id uuid,
    p_feature text,
    p_amount numeric,
    p_lease_expires_at timestamptz,
    p_now timestamptz,
    OUT period_ids bigint[],
    OUT warn_period_ids bigint[],
    OUT above_period_ids bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    limits numeric[];
    thresholds numeric[];
    used numeric;
    was_warned boolean;
    refused record;
BEGIN
    -- Each applicable budget's row for the current period, created on first use (a racing creator wins).
    INSERT INTO billing_budgetperiod (budget_id, period_start, spent_usd, reserved_usd, warned)
    SELECT b.id, sandgate_budget_period_start(b.period, p_now), 0, 0, false
    FROM billing_budget b
    WHERE b.team_id = p_team_id AND b.is_active
      AND (b.scope = 'team' OR (b.scope = 'user' AND b.user_id = p_user_id))
      AND NOT EXISTS (
          SELECT 1 FROM billing_budgetperiod p
          WHERE p.budget_id = b.id AND p.period_start = sandgate_budget_period_start(b.period, p_now)
      )
    ORDER BY b.id
    ON CONFLICT (budget_id, period_start) DO NOTHING;

    SELECT coalesce(array_agg(p.id ORDER BY p.id), '{}'),
           array_agg(b.limit_usd ORDER BY p.id),
           array_agg(b.limit_usd * b.soft_threshold ORDER BY p.id)
    INTO period_ids, limits, thresholds
    FROM billing_budget b
    JOIN billing_budgetperiod p
      ON p.budget_id = b.id AND p.period_start = sandgate_budget_period_start(b.period, p_now)
    WHERE b.team_id = p_team_id AND b.is_active
      AND (b.scope = 'team' OR (b.scope = 'user' AND b.user_id = p_user_id));

    INSERT INTO billing_reservation (
        id, team_id, user_id, request_id, feature, amount_usd, actual_usd, period_ids, status,
        lease_expires_at, created_at, finished_at
    ) VALUES (
        p_reservation_id, p_team_id, p_user_id, p_request_id, p_feature, p_amount, NULL, to_jsonb(period_ids),
        'active', p_lease_expires_at, p_now, NULL
    );

    warn_period_ids := '{}';
    above_period_ids := '{}';
    FOR i IN 1 .. coalesce(array_length(period_ids, 1), 0) LOOP
        UPDATE billing_budgetperiod
        SET reserved_usd = reserved_usd + p_amount
        WHERE id = period_ids[i] AND spent_usd + reserved_usd + p_amount <= limits[i]
        RETURNING spent_usd + reserved_usd, warned INTO used, was_warned;
        IF NOT FOUND THEN
            SELECT p.id, p.budget_id, p.period_start, p.spent_usd, p.reserved_usd
            INTO refused FROM billing_budgetperiod p WHERE p.id = period_ids[i];
            RAISE EXCEPTION USING
                ERRCODE = 'SG402',
                MESSAGE = format('budget %s: the hold does not fit under its limit', refused.budget_id),
                DETAIL = json_build_object(
                    'period_id', refused.id,
                    'budget_id', refused.budget_id,
                    'period_start', extract(epoch FROM refused.period_start)::bigint,
                    'spent_usd', refused.spent_usd::text,
                    'reserved_usd', refused.reserved_usd::text
                )::text;
        END IF;
        IF used >= thresholds[i] THEN
            above_period_ids := above_period_ids || period_ids[i];
            IF NOT was_warned THEN
                warn_period_ids := warn_period_ids || period_ids[i];
            END IF;
        END IF;
    END LOOP;
END
$$;

-- Only the application's role calls it (on Supabase, `public` functions are otherwise exposed over RPC).
REVOKE ALL ON FUNCTION sandgate_budget_reserve(uuid, uuid, integer, uuid, text, numeric, timestamptz, timestamptz)
    FROM PUBLIC;
"""

# Back to 0005's function (its SQL, frozen there).
DROP_SQL = """
DROP FUNCTION IF EXISTS sandgate_budget_reserve(uuid, uuid, integer, uuid, text, numeric, timestamptz, timestamptz);
"""


PREVIOUS = import_module("billing.migrations.0005_billing_reserve_function")


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_billing_reserve_function")]

    operations = [run_sql_on_postgresql(CREATE_SQL, DROP_SQL + PREVIOUS.CREATE_SQL)]
