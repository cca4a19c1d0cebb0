from decimal import Decimal

from billing.models import Budget


def team_budget(team, limit, period=Budget.Period.MONTHLY, **kwargs) -> Budget:
    return Budget.objects.create(
        scope=Budget.Scope.TEAM, team=team, period=period, limit_usd=Decimal(limit), **kwargs
    )


def user_budget(team, user, limit, period=Budget.Period.MONTHLY, **kwargs) -> Budget:
    return Budget.objects.create(
        scope=Budget.Scope.USER, team=team, user=user, period=period, limit_usd=Decimal(limit), **kwargs
    )
