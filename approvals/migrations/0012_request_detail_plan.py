"""PostgreSQL only: `sandgate_request_detail` answers with the request's `plan` and `clarification` too, as
ApprovalRequestDetailSerializer does. The function is 0007's, with those two fields added where the
serializer has them; reversing restores 0007's."""

import importlib

from django.db import migrations

from config.postgresql import run_sql_on_postgresql

ORIGINAL = importlib.import_module("approvals.migrations.0007_request_detail_function").CREATE_SQL
AFTER_QUERY = "        'query', r.query,\n"
AFTER_ERROR = "        'generationError', r.generation_error,\n"
assert AFTER_QUERY in ORIGINAL and AFTER_ERROR in ORIGINAL  # the SQL this builds on is frozen in 0007

CREATE_SQL = ORIGINAL.replace(AFTER_QUERY, AFTER_QUERY + "        'plan', r.plan,\n").replace(
    AFTER_ERROR,
    AFTER_ERROR
    + """        'clarification', CASE WHEN r.clarification IS NOT NULL THEN json_build_object(
            'understood', r.clarification -> 'understood',
            'missing', r.clarification -> 'missing',
            'examples', r.clarification -> 'examples'
        ) END,
""",
)


class Migration(migrations.Migration):
    dependencies = [("approvals", "0011_request_plan_clarification")]

    operations = [run_sql_on_postgresql(CREATE_SQL, ORIGINAL)]
