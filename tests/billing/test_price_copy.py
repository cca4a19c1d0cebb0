"""Each process prices from its copy of the price table: a save in the process drops it at once, a change
made by another process is read within SANDGATE_PRICES_MAX_AGE_SECONDS."""

from decimal import Decimal

import pytest

from billing.models import Price
from billing.services import llm_cost, price_save


@pytest.fixture
def large(prices):
    return Price.objects.get(name="mistral-large-latest")


def cost_of_a_million_input_tokens() -> Decimal:
    return llm_cost(model="mistral-large-latest", input_tokens=1_000_000, output_tokens=0)


def test_pricing_again_reads_no_table(large, django_assert_num_queries):
    assert cost_of_a_million_input_tokens() == Decimal("2")
    with django_assert_num_queries(0):
        assert cost_of_a_million_input_tokens() == Decimal("2")


def test_an_admins_price_change_in_this_process_prices_the_next_call(large, admin_user):
    assert cost_of_a_million_input_tokens() == Decimal("2")
    large.input_usd_per_mtok = Decimal("3")
    price_save(price=large, actor=admin_user)
    assert cost_of_a_million_input_tokens() == Decimal("3")


def test_a_change_made_by_another_process_is_read_once_the_copy_is_old_enough(large, settings):
    settings.SANDGATE_PRICES_MAX_AGE_SECONDS = 60
    assert cost_of_a_million_input_tokens() == Decimal("2")
    # Another process's save: the row changes, and nothing in this process hears of it.
    Price.objects.filter(pk=large.pk).update(input_usd_per_mtok=Decimal("3"))
    assert cost_of_a_million_input_tokens() == Decimal("2")  # within the copy's age

    settings.SANDGATE_PRICES_MAX_AGE_SECONDS = 0  # the copy is now older than it may be
    assert cost_of_a_million_input_tokens() == Decimal("3")


def test_a_deleted_price_is_forgotten_at_once(large):
    assert cost_of_a_million_input_tokens() == Decimal("2")
    Price.objects.filter(kind=Price.Kind.LLM).delete()
    cost = llm_cost(model="mistral-large-latest", input_tokens=1_000_000, output_tokens=0)
    assert cost == Decimal("10")  # no price at all: the built-in, deliberately dear one
