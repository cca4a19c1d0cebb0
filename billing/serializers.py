"""JSON shapes of budgets and spend reports; camelCase like the rest of the API."""

from rest_framework import serializers

from . import selectors
from .models import Budget, CostSpan


class BudgetStatusSerializer(serializers.Serializer):
    budgetId = serializers.IntegerField(source="budget.pk")
    scope = serializers.ChoiceField(choices=Budget.Scope.choices, source="budget.scope")
    team = serializers.CharField(source="budget.team.slug", help_text="The team's slug.")
    user = serializers.SerializerMethodField(help_text="The user of a `user` budget; null for a team's.")
    period = serializers.ChoiceField(choices=Budget.Period.choices, source="budget.period")
    limitUsd = serializers.DecimalField(source="budget.limit_usd", max_digits=14, decimal_places=6)
    softThreshold = serializers.DecimalField(source="budget.soft_threshold", max_digits=4, decimal_places=3)
    spentUsd = serializers.DecimalField(source="spent", max_digits=14, decimal_places=6)
    reservedUsd = serializers.DecimalField(source="reserved", max_digits=14, decimal_places=6)
    remainingUsd = serializers.DecimalField(source="remaining", max_digits=14, decimal_places=6)
    aboveSoftThreshold = serializers.BooleanField(source="above_soft_threshold")
    resetsAt = serializers.DateTimeField(source="resets_at", allow_null=True)

    def get_user(self, status: selectors.BudgetStatus) -> str | None:
        return status.budget.user.username if status.budget.user_id else None


class BudgetListSerializer(serializers.Serializer):
    results = BudgetStatusSerializer(many=True)


class BudgetWarningSerializer(serializers.Serializer):
    """The budget most used, once the caller's use is above a budget's soft threshold."""

    scope = serializers.ChoiceField(choices=Budget.Scope.choices)
    # Exact amounts (billing.money.usd_text): every decimal they have, down to the nano-dollar (9 places).
    limitUsd = serializers.DecimalField(max_digits=20, decimal_places=9)
    usedUsd = serializers.DecimalField(max_digits=20, decimal_places=9, help_text="Spent and held.")
    remainingUsd = serializers.DecimalField(max_digits=20, decimal_places=9)
    resetsAt = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField()


class SpendInput(serializers.Serializer):
    """The query of a spend report, under the names the request uses (`from` and `to` are Python keywords,
    hence `get_fields`): a 400 names `from`, as the client sent it."""

    def get_fields(self):
        return {
            "groupBy": serializers.ChoiceField(
                choices=selectors.SpendGroup.choices, required=False, help_text="`day` when absent."
            ),
            "from": serializers.DateTimeField(
                required=False, help_text="ISO date or date-time, inclusive (UTC)"
            ),
            "to": serializers.DateTimeField(
                required=False, help_text="ISO date or date-time, exclusive (UTC)"
            ),
        }


class SpendRowSerializer(serializers.Serializer):
    """One group's spend; the group's name is under the key `groupBy` names (one of the first five)."""

    user = serializers.CharField(required=False)
    team = serializers.CharField(required=False)
    model = serializers.CharField(required=False)
    feature = serializers.ChoiceField(choices=CostSpan.Feature.choices, required=False)
    day = serializers.DateField(required=False)
    costUsd = serializers.DecimalField(max_digits=20, decimal_places=8)
    calls = serializers.IntegerField()
    inputTokens = serializers.IntegerField()
    outputTokens = serializers.IntegerField()
    seconds = serializers.FloatField()
    unpricedCalls = serializers.IntegerField(help_text="Calls priced like the dearest model (no price).")


class SpendReportSerializer(serializers.Serializer):
    groupBy = serializers.ChoiceField(choices=selectors.SpendGroup.choices)
    results = SpendRowSerializer(many=True)
