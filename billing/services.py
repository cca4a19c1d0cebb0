"""Writes of billing: pricing cost spans, and holding money against budgets.

Estimate → reserve → settle. Before an LLM call or a run, `budget_reserve` holds the most the work can cost
against every budget that applies (the team's, the user's) in one short transaction: one conditional
`UPDATE … SET reserved = reserved + x WHERE spent + reserved + x <= limit` per budget period row, in
ascending primary-key order, so two reservers never wait on each other in opposite orders (no deadlock), and
no interleaving can pass a limit. The work then runs with no transaction held; `budget_settle` moves the
hold to `spent` with the actual cost, once per reservation (a redelivered task settles nothing twice). The
sweeper releases reservations whose lease expired: their owner died.

Amounts are `Decimal` USD in and out, whole nano-dollars in the database (billing/money.py): every sum and
comparison in SQL is integer arithmetic.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import models, transaction
from django.db.models import ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_log, audit_log_change
from config.exceptions import ApplicationError

from .models import AMOUNT_PLACES, Budget, BudgetPeriod, CostSpan, Membership, Price, Reservation, Team
from .money import nanos_to_usd, usd_text, usd_to_nanos
from .periods import period_end, period_start
from .selectors import price_list

logger = logging.getLogger(__name__)
Action = AuditEvent.Action
Feature = CostSpan.Feature
MILLION = Decimal(1_000_000)
CENT = Decimal("0.01")

# Only when no price row exists at all (e.g. an emptied table): deliberately dear, never free.
UNPRICED_LLM_USD_PER_MTOK = (Decimal("10"), Decimal("30"))
UNPRICED_SANDBOX_USD = (Decimal("0.000014"), Decimal("0.0000045"))
# Which cost spans settle a reservation of each feature.
SETTLED_BY = {
    Feature.GENERATION: (Feature.GENERATION, Feature.REPAIR),
    Feature.REPAIR: (Feature.GENERATION, Feature.REPAIR),
    Feature.EXECUTION: (Feature.EXECUTION,),
    Feature.PROFILING: (Feature.PROFILING,),
}


# --- prices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Priced:
    cost: Decimal  # as a cost span stores it: rounded half up to the nano-dollar
    unpriced: bool


def _stored(cost: Decimal) -> Decimal:
    return nanos_to_usd(usd_to_nanos(cost), places=AMOUNT_PLACES)


def _llm_price(model: str) -> tuple[Decimal, Decimal, bool]:
    prices = price_list(kind=Price.Kind.LLM)
    price = next((p for p in prices if p.name == model), None)
    if price is not None:
        return price.input_usd_per_mtok, price.output_usd_per_mtok, False
    # Never silently free: an unknown model is priced like the dearest one we know, and flagged.
    if not prices:
        return (*UNPRICED_LLM_USD_PER_MTOK, True)
    dearest = max(prices, key=lambda p: p.input_usd_per_mtok + p.output_usd_per_mtok)
    return dearest.input_usd_per_mtok, dearest.output_usd_per_mtok, True


def llm_price(*, model: str, input_tokens: int, output_tokens: int) -> Priced:
    """One LLM call's cost, as its cost span will store it."""
    price_in, price_out, unpriced = _llm_price(model)
    return Priced(_llm_call_cost(price_in, price_out, input_tokens, output_tokens), unpriced)


def _llm_call_cost(price_in: Decimal, price_out: Decimal, input_tokens: int, output_tokens: int) -> Decimal:
    return _stored((price_in * input_tokens + price_out * output_tokens) / MILLION)


def llm_cost(*, model: str, input_tokens: int, output_tokens: int) -> Decimal:
    return llm_price(model=model, input_tokens=input_tokens, output_tokens=output_tokens).cost


def llm_calls_cost(*, model: str, calls: list[tuple[int, int]]) -> Decimal:
    """What these calls (input tokens, output tokens) cost together: each priced (and rounded) as its own
    cost span will be, so a hold priced here covers the spans of calls no larger than these."""
    price_in, price_out, _ = _llm_price(model)
    return sum((_llm_call_cost(price_in, price_out, i, o) for i, o in calls), Decimal(0))


def sandbox_price(*, seconds: float, memory_mb: int, vcpus: int = 1, backend: str = "") -> Priced:
    """One run's cost, as its cost span will store it. The same function prices a run's hold (at the
    longest the run may be counted) and its charge (as long as it was counted)."""
    prices = price_list(kind=Price.Kind.SANDBOX)
    price = next((p for p in prices if p.name == (backend or settings.SANDBOX_BACKEND)), None)
    unpriced = price is None
    if price is None and prices:
        price = max(prices, key=lambda p: p.usd_per_vcpu_second + p.usd_per_gib_second)
    per_vcpu, per_gib = (
        (price.usd_per_vcpu_second, price.usd_per_gib_second) if price else UNPRICED_SANDBOX_USD
    )
    secs, gib = sandbox_units(seconds=seconds, memory_mb=memory_mb)
    return Priced(_stored(secs * (per_vcpu * vcpus + per_gib * gib)), unpriced)


def sandbox_units(*, seconds: float, memory_mb: int) -> tuple[Decimal, Decimal]:
    """The seconds (to the millisecond) and GiB a sandbox is priced by."""
    return Decimal(str(round(seconds, 3))), Decimal(memory_mb) / Decimal(1024)


def sandbox_cost(*, seconds: float, memory_mb: int, vcpus: int = 1, backend: str = "") -> Decimal:
    return sandbox_price(seconds=seconds, memory_mb=memory_mb, vcpus=vcpus, backend=backend).cost


PRICE_FIELDS = (
    "kind",
    "name",
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "usd_per_vcpu_second",
    "usd_per_gib_second",
    "source",
    "as_of",
)


@transaction.atomic
def price_save(*, price: Price, actor) -> Price:
    """Save a price edited in the admin, audited with its values before and after."""
    _validate(price)
    before = _state_before(price, PRICE_FIELDS)
    price.save()
    audit_log_change(
        action=Action.PRICE_CHANGED,
        actor=actor,
        target=price,
        before=before,
        after=_state(price, PRICE_FIELDS),
        details={"name": price.name},
    )
    return price


# --- teams ------------------------------------------------------------------------------------

TEAM_FIELDS = (
    "slug",
    "name",
    "high_risk_quorum",
    "sandbox_limits",
    "budget_downgrade_model",
    "max_active_runs",
)


@transaction.atomic
def team_save(*, team: Team, actor) -> Team:
    """Create or change a team's settings (console), validated and audited with their before and after.

    Validation is the model's (billing/validators.py): quorum 1–10; sandbox limits with known keys, whole
    numbers above 0, at most their ceiling.
    """
    _validate(team)
    created = team._state.adding
    before = _state_before(team, TEAM_FIELDS)
    team.save()
    audit_log_change(
        action=Action.TEAM_CREATED if created else Action.TEAM_CHANGED,
        actor=actor,
        team=team,
        target=team,
        before=before,
        after=_state(team, TEAM_FIELDS),
    )
    return team


def _validate(obj) -> None:
    """The model's own validation; the console's form ran it already, other callers get a clear 400."""
    try:
        obj.full_clean()
    except ValidationError as error:
        messages = [f"{field}: {' '.join(errors)}" for field, errors in error.message_dict.items()]
        fields = {"fields": error.message_dict}
        raise ApplicationError(" ".join(messages), code="invalid", extra=fields) from None


def _state_before(obj, fields: tuple[str, ...]) -> dict | None:
    """The row as it is now, read under a lock (None for a new row)."""
    if obj._state.adding:
        return None
    current = type(obj).objects.select_for_update().get(pk=obj.pk)
    return _state(current, fields)


def _state(obj, fields: tuple[str, ...]) -> dict:
    """JSON-ready values of these fields, for an audit event's before and after."""
    state = {}
    for name in fields:
        value = getattr(obj, name)
        if isinstance(value, models.Model):
            value = str(value)
        elif not isinstance(value, (str, int, bool, dict, list, type(None))):
            value = str(value)  # decimals, dates
        state[name] = value
    return state


# --- cost spans -------------------------------------------------------------------------------


def cost_span_record_llm(
    *, request, user, provider: str, model: str, input_tokens: int, output_tokens: int, feature: str
) -> CostSpan:
    priced = llm_price(model=model, input_tokens=input_tokens, output_tokens=output_tokens)
    if priced.unpriced:
        logger.warning("No price for model %s; priced like the dearest model and flagged", model)
    return CostSpan.objects.create(
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=priced.cost,
        unpriced=priced.unpriced,
        tenant=request.team,
        user=user,
        feature=feature,
        request=request,
    )


def cost_span_record_execution(*, request, backend: str, seconds: float, memory_mb: int) -> CostSpan:
    priced = sandbox_price(seconds=seconds, memory_mb=memory_mb, backend=backend)
    return CostSpan.objects.create(
        provider=backend,
        model="sandbox",
        seconds=seconds,
        cost_usd=priced.cost,
        unpriced=priced.unpriced,
        tenant=request.team,
        user=request.user,
        feature=Feature.EXECUTION,
        request=request,
    )


def cost_span_record_profiling(*, team: Team, user, backend: str, seconds: float, memory_mb: int) -> CostSpan:
    """The sandbox seconds of profiling one upload (no request: an upload is not a question)."""
    priced = sandbox_price(seconds=seconds, memory_mb=memory_mb, backend=backend)
    return CostSpan.objects.create(
        provider=backend,
        model="sandbox",
        seconds=seconds,
        cost_usd=priced.cost,
        unpriced=priced.unpriced,
        tenant=team,
        user=user,
        feature=Feature.PROFILING,
    )


# --- budgets ----------------------------------------------------------------------------------


class BudgetExceeded(ApplicationError):
    """402: the hold does not fit under a budget's hard limit (or the budget is already over it); nothing
    ran."""

    def __init__(self, *, budget: Budget, period: BudgetPeriod, amount: Decimal):
        resets_at = period_end(period=budget.period, start=period.period_start)
        who = "your" if budget.scope == Budget.Scope.USER else f"team {budget.team.slug}'s"
        left = nanos_to_usd(max(_remaining_nanos(budget, period), 0))
        super().__init__(
            f"This would cost up to ${amount.quantize(CENT)}; {who} {budget.period} budget of "
            f"${budget.limit_usd.quantize(CENT)} has ${left.quantize(CENT)} left."
            + (f" It resets at {resets_at:%Y-%m-%d %H:%M} UTC." if resets_at else ""),
            code="budget_exceeded",
            status_code=402,
            extra={
                "scope": budget.scope,
                "limitUsd": usd_text(budget.limit_usd),
                "spentUsd": usd_text(period.spent_usd),
                "reservedUsd": usd_text(period.reserved_usd),
                "resetsAt": resets_at.isoformat() if resets_at else None,
            },
        )
        self.budget = budget
        self.amount = amount


class _Refused(Exception):
    def __init__(self, budget: Budget, period_id: int):
        self.budget, self.period_id = budget, period_id


def _remaining_nanos(budget: Budget, period: BudgetPeriod) -> int:
    """Below zero when the budget is over its limit: a limit lowered below its spend, or a charge above its
    hold (e.g. a price raised while a run was under way)."""
    return budget.limit_nanos - period.spent_nanos - period.reserved_nanos


def budgets_applicable(*, team: Team, user) -> list[Budget]:
    user_budgets = Q(scope=Budget.Scope.USER, user_id=getattr(user, "pk", None))
    return list(
        Budget.objects.filter(Q(scope=Budget.Scope.TEAM) | user_budgets, team=team, is_active=True)
        .select_related("team")
        .order_by("pk")
    )


def budget_periods_current(*, budgets: list[Budget], now) -> list[tuple[BudgetPeriod, Budget]]:
    """Each budget's row for the period containing `now`, created on first use; in ascending pk order."""
    if not budgets:
        return []
    starts = {b.pk: period_start(period=b.period, at=now) for b in budgets}
    wanted = Q()
    for budget_id, start in starts.items():
        wanted |= Q(budget_id=budget_id, period_start=start)
    rows = {p.budget_id: p for p in BudgetPeriod.objects.filter(wanted)}
    if len(rows) < len(budgets):
        missing = [BudgetPeriod(budget_id=pk, period_start=s) for pk, s in starts.items() if pk not in rows]
        BudgetPeriod.objects.bulk_create(missing, ignore_conflicts=True)  # a racing creator wins: fine
        rows = {p.budget_id: p for p in BudgetPeriod.objects.filter(wanted)}
    by_id = {b.pk: b for b in budgets}
    return sorted(((p, by_id[p.budget_id]) for p in rows.values()), key=lambda pair: pair[0].pk)


def budget_reserve(
    *, team: Team, user, feature: str, amount: Decimal, request=None, lease_seconds: int | None = None
) -> Reservation:
    """Hold `amount` (USD, held to the nano-dollar, rounded half up) against every applicable budget, or
    raise BudgetExceeded (402) and hold nothing.

    The reservation returned says whether a budget it holds against is now at or above its soft
    threshold (`above_soft_threshold`, not stored): the answer's budget warning is looked up only then.
    A warning for a crossed soft threshold is audited in the hold's transaction.
    """
    now = timezone.now()
    nanos = usd_to_nanos(amount)
    user = user if getattr(user, "pk", None) else None
    periods = budget_periods_current(budgets=budgets_applicable(team=team, user=user), now=now)
    try:
        with transaction.atomic():
            # The reservation row first, the hot budget rows last: their locks are held for the shortest time.
            reservation = Reservation.objects.create(
                team=team,
                user=user,
                request=request,
                feature=feature,
                amount_nanos=nanos,
                period_ids=[p.pk for p, _ in periods],
                lease_expires_at=now + timedelta(seconds=lease_seconds or settings.BUDGET_LEASE_SECONDS),
            )
            for period, budget in periods:  # ascending pk: every reserver locks in the same order
                _hold(period_id=period.pk, budget=budget, nanos=nanos)
            reservation.above_soft_threshold = _warn_above_soft_threshold(
                periods=periods, nanos=nanos, actor=user
            )
    except _Refused as refused:
        period = BudgetPeriod.objects.get(pk=refused.period_id)
        raise BudgetExceeded(budget=refused.budget, period=period, amount=amount) from None
    return reservation


def _used() -> ExpressionWrapper:
    """A period's spent plus reserved, typed as the 64-bit integer it is. Without the type, Django takes the
    sum of two BigIntegerFields for an IntegerField, and on PostgreSQL drops a comparison with any value
    beyond 32 bits ($2.15 in nano-dollars) as always true or always false."""
    return ExpressionWrapper(F("spent_nanos") + F("reserved_nanos"), output_field=models.BigIntegerField())


def _hold(*, period_id: int, budget: Budget, nanos: int) -> None:
    """One conditional UPDATE in whole nano-dollars: it holds only if the period stays within its limit."""
    held = (
        BudgetPeriod.objects.filter(pk=period_id)
        .alias(used=_used())
        .filter(used__lte=budget.limit_nanos - nanos)
        .update(reserved_nanos=F("reserved_nanos") + nanos, version=F("version") + 1)
    )
    if held != 1:
        raise _Refused(budget, period_id)


def reservation_hold_more(*, reservation_id, amount: Decimal, actor=None) -> bool:
    """Raise an active reservation's hold to `amount` (USD), or raise BudgetExceeded and change nothing.

    For work whose worst case grew after its hold was taken (the prompt a generation will send is known
    only in the worker). A reservation that already holds `amount` or more, or is no longer active, is left
    alone (False).
    """
    nanos = usd_to_nanos(amount)
    try:
        with transaction.atomic():
            # Lock order everywhere: the reservation row, then budget periods by ascending pk.
            reservation = (
                Reservation.objects.select_for_update()
                .filter(pk=reservation_id, status=Reservation.Status.ACTIVE)
                .first()
            )
            if reservation is None or reservation.amount_nanos >= nanos:
                return False
            more = nanos - reservation.amount_nanos
            budgets = Budget.objects.select_related("team").filter(periods__pk__in=reservation.period_ids)
            budgets = {b.pk: b for b in budgets}
            periods = BudgetPeriod.objects.filter(pk__in=reservation.period_ids).order_by("pk")
            for period in periods:
                _hold(period_id=period.pk, budget=budgets[period.budget_id], nanos=more)
            Reservation.objects.filter(pk=reservation.pk).update(amount_nanos=nanos)
    except _Refused as refused:
        period = BudgetPeriod.objects.get(pk=refused.period_id)
        refusal = BudgetExceeded(budget=refused.budget, period=period, amount=amount)
        _audit_refusal(refusal=refusal, actor=actor)
        raise refusal from None
    return True


def budget_settle(*, reservation_id, actual: Decimal) -> bool:
    """Charge the actual cost and drop the hold, once: a second call for the same reservation does nothing.

    A reservation the sweeper released meanwhile (its owner was slow, not dead) is charged the difference.
    An actual cost above the hold is charged in full: the period's spent may then pass its limit, and the
    next hold against it is refused (402).
    """
    now = timezone.now()
    actual_nanos = usd_to_nanos(actual)
    with transaction.atomic():
        # Lock order everywhere: the reservation row, then budget periods by ascending pk.
        reservation = Reservation.objects.select_for_update().filter(pk=reservation_id).first()
        if reservation is None or reservation.status == Reservation.Status.SETTLED:
            return False
        was_active = reservation.status == Reservation.Status.ACTIVE
        charged = 0 if was_active else (reservation.actual_nanos or 0)
        if actual_nanos > reservation.amount_nanos:
            logger.warning(
                "reservation %s: charged $%s, above its hold of $%s",
                reservation.pk,
                usd_text(nanos_to_usd(actual_nanos, places=AMOUNT_PLACES)),
                usd_text(reservation.amount_usd),
            )
        Reservation.objects.filter(pk=reservation.pk).update(
            status=Reservation.Status.SETTLED, actual_nanos=actual_nanos, finished_at=now
        )
        _move(
            period_ids=reservation.period_ids,
            held=reservation.amount_nanos if was_active else 0,
            spent=actual_nanos - charged,
        )
    return True


def _move(*, period_ids: list[int], held: int, spent: int) -> None:
    """Drop `held` from reserved and add `spent` to spent (nano-dollars) on each period, in lock order."""
    for period_id in sorted(period_ids):
        BudgetPeriod.objects.filter(pk=period_id).update(
            reserved_nanos=F("reserved_nanos") - held,
            spent_nanos=F("spent_nanos") + spent,
            version=F("version") + 1,
        )


def _actual_nanos(*, reservation: Reservation) -> int:
    if reservation.request_id is None:
        return 0
    spans = CostSpan.objects.filter(
        request_id=reservation.request_id, feature__in=SETTLED_BY[reservation.feature]
    )
    # int(): PostgreSQL sums a bigint column as numeric.
    return int(spans.aggregate(total=Sum("cost_nanos"))["total"] or 0)


def reservation_actual_cost(*, reservation: Reservation) -> Decimal:
    """What the work behind a reservation cost: the sum of its request's cost spans of that feature."""
    return nanos_to_usd(_actual_nanos(reservation=reservation), places=AMOUNT_PLACES)


def budget_settle_request(*, request, feature: str) -> int:
    """Settle the request's open reservations of `feature` with what its cost spans say it cost."""
    open_statuses = (Reservation.Status.ACTIVE, Reservation.Status.RELEASED)
    settled = 0
    for reservation in Reservation.objects.filter(request=request, feature=feature, status__in=open_statuses):
        settled += budget_settle(
            reservation_id=reservation.pk, actual=reservation_actual_cost(reservation=reservation)
        )
    return settled


def budget_release_request(*, request, feature: str) -> int:
    """Drop the request's active holds of `feature` (its work stopped early), charging what their cost spans
    already say; a later settle charges any difference."""
    held = Reservation.objects.filter(request=request, feature=feature, status=Reservation.Status.ACTIVE)
    return sum(reservation_release(reservation_id=pk) for pk in held.values_list("pk", flat=True))


def budget_lease_renew(*, request, feature: str) -> int:
    """A worker starting the work says it is alive: the sweeper leaves its reservation alone."""
    return Reservation.objects.filter(
        request=request, feature=feature, status=Reservation.Status.ACTIVE
    ).update(lease_expires_at=timezone.now() + timedelta(seconds=settings.BUDGET_LEASE_SECONDS))


def reservation_lease_renew(*, reservation_id) -> int:
    """A worker starting the work of one reservation (no request: an upload's profile) says it is alive."""
    return Reservation.objects.filter(pk=reservation_id, status=Reservation.Status.ACTIVE).update(
        lease_expires_at=timezone.now() + timedelta(seconds=settings.BUDGET_LEASE_SECONDS)
    )


def reservation_release(*, reservation_id) -> bool:
    """Drop a hold whose owner died, charging only what its cost spans already say was spent."""
    with transaction.atomic():
        reservation = (
            Reservation.objects.select_for_update()
            .filter(pk=reservation_id, status=Reservation.Status.ACTIVE)
            .first()
        )
        if reservation is None:
            return False
        actual = _actual_nanos(reservation=reservation)
        Reservation.objects.filter(pk=reservation.pk).update(
            status=Reservation.Status.RELEASED, actual_nanos=actual, finished_at=timezone.now()
        )
        _move(period_ids=reservation.period_ids, held=reservation.amount_nanos, spent=actual)
    return True


def reservation_sweep(*, now=None) -> int:
    """Release every active reservation whose lease expired (the periodic sweeper)."""
    now = now or timezone.now()
    expired = Reservation.objects.filter(status=Reservation.Status.ACTIVE, lease_expires_at__lt=now)
    released = sum(reservation_release(reservation_id=pk) for pk in expired.values_list("pk", flat=True))
    if released:
        logger.warning("released %s reservation(s) whose owner died", released)
    return released


def audit_budget_refusals(func=None, *, actor: str = "user"):
    """Audit a 402 after the refused transaction rolled back (inside it, the event would roll back too).

    `actor` names the keyword argument of the wrapped service that holds who asked for the work.
    """

    def decorate(service):
        @functools.wraps(service)
        def wrapper(*args, **kwargs):
            try:
                return service(*args, **kwargs)
            except BudgetExceeded as refusal:
                # Inside a caller's transaction (auto-execution on approval) this rolls back with it.
                _audit_refusal(refusal=refusal, actor=kwargs.get(actor))
                raise

        return wrapper

    return decorate(func) if func is not None else decorate


@transaction.atomic
def _audit_refusal(*, refusal: BudgetExceeded, actor) -> None:
    audit_log(
        action=Action.BUDGET_REFUSED,
        actor=actor,
        team=refusal.budget.team,
        target=refusal.budget,
        # At the precision it would have been held.
        details={
            "amount_usd": usd_text(nanos_to_usd(usd_to_nanos(refusal.amount), places=AMOUNT_PLACES)),
            **refusal.extra,
        },
    )


# --- soft threshold ---------------------------------------------------------------------------


def _soft_threshold_nanos(budget: Budget) -> int:
    """The least whole nano-dollar amount at or above the budget's soft threshold (used >= it ⇔ above)."""
    threshold = budget.limit_nanos * budget.soft_threshold
    return int(threshold.to_integral_value(rounding=ROUND_CEILING))


def _warn_above_soft_threshold(*, periods: list[tuple[BudgetPeriod, Budget]], nanos: int, actor) -> bool:
    """Warn once for each period the hold took past its soft threshold; whether any is at or above it."""
    above = False
    for period, budget in periods:
        if period.spent_nanos + period.reserved_nanos + nanos < _soft_threshold_nanos(budget):
            continue  # cheap check on the values read before the hold: most reservations stop here
        above = True
        _warn_once(period=period, budget=budget, actor=actor)
    return above


@transaction.atomic
def _warn_once(*, period: BudgetPeriod, budget: Budget, actor) -> None:
    """Announce the period's crossing of its soft threshold, if it did and nobody announced it yet."""
    crossed = (
        BudgetPeriod.objects.filter(pk=period.pk, warned=False)
        .alias(used=_used())
        .filter(used__gte=_soft_threshold_nanos(budget))
        .update(warned=True)
    )
    if crossed:
        _announce_soft_threshold(budget=budget, period=period, actor=actor)


def _announce_soft_threshold(*, budget: Budget, period: BudgetPeriod, actor) -> None:
    period.refresh_from_db()
    details = {
        "scope": budget.scope,
        "user": budget.user.get_username() if budget.user_id else None,
        "limit_usd": usd_text(budget.limit_usd),
        "spent_usd": usd_text(period.spent_usd),
        "reserved_usd": usd_text(period.reserved_usd),
        "soft_threshold": str(budget.soft_threshold),
    }
    audit_log(
        action=Action.BUDGET_SOFT_THRESHOLD, actor=actor, team=budget.team, target=budget, details=details
    )
    recipients = list(
        Membership.objects.filter(team=budget.team, role=Membership.Role.REVIEWER)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if recipients:
        transaction.on_commit(lambda: _mail_soft_threshold(budget=budget, details=details, to=recipients))


def _mail_soft_threshold(*, budget: Budget, details: dict, to: list[str]) -> None:
    share = int(budget.soft_threshold * 100)
    who = f"{details['user']} in team {budget.team.slug}" if details["user"] else f"team {budget.team.slug}"
    send_mail(
        subject=f"[Sandgate] {who} passed {share}% of its {budget.period} budget",
        message=(
            f"The {budget.period} budget of {who} is ${budget.limit_usd}: ${details['spent_usd']} spent and "
            f"${details['reserved_usd']} held for work in progress. Requests over the limit will be refused."
        ),
        from_email=None,
        recipient_list=to,
        fail_silently=True,
    )


BUDGET_FIELDS = ("team", "scope", "user", "period", "limit_usd", "soft_threshold", "is_active")


@transaction.atomic
def budget_save(*, budget: Budget, actor) -> Budget:
    """Create or change a budget (console), audited with its values before and after."""
    _validate(budget)
    before = _state_before(budget, BUDGET_FIELDS)
    budget.save()
    audit_log_change(
        action=Action.BUDGET_CHANGED,
        actor=actor,
        team=budget.team,
        target=budget,
        before=before,
        after=_state(budget, BUDGET_FIELDS),
    )
    return budget
