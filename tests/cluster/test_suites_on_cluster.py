"""The single-node guarantee, fault and store suites, unchanged, run again on the local Redis Cluster.

The imported tests ask for `client`, `config`, `redis_url` and `store`; the fixtures below give them
the cluster instead of the session's single Redis. Their outputs stay on their input's slot (the
direct path); test_cluster_guarantees.py covers the outbox path, and SIGKILL there (the contract
suite's SIGKILL test reads its own outputs back, so its final "nothing pending" races a survivor
stopped mid-read, which the slower cluster client makes likely).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aiwf.bus.cluster import LocalCluster
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, connect
from aiwf.bus.store import EventStore
from tests.contract.test_faults import test_sigterm_drains_and_acks_only_finished_work
from tests.contract.test_guarantees import (
    test_backend_unavailable_error_never_dead_letters,
    test_deleted_group_is_recreated_under_a_running_worker,
    test_handler_failing_twice_runs_three_times_and_outputs_once,
    test_long_handler_renewing_its_lease_is_never_run_twice,
    test_malformed_and_invalid_entries_are_dead_lettered_on_first_delivery,
    test_output_carries_correlation_and_causation,
    test_poison_reaches_dlq_and_healthy_event_behind_it_is_processed,
    test_same_event_id_delivered_twice_runs_handler_once,
    test_unflagged_duplicate_still_commits_its_outputs_once,
)
from tests.store.test_store_append import (
    test_append_then_read_returns_events_in_version_order,
    test_category_and_global_views_hold_every_event_in_append_order,
    test_expected_zero_refuses_an_existing_stream_and_any_accepts,
    test_log_reads_page_from_a_position,
    test_partly_stored_batch_is_refused,
    test_retried_append_is_a_noop_returning_the_existing_version,
    test_wrong_expected_version_names_both_and_writes_nothing,
)
from tests.store.test_store_concurrency import test_concurrent_writers_at_one_expected_version_have_exactly_one_winner

__all__ = [
    "test_append_then_read_returns_events_in_version_order",
    "test_backend_unavailable_error_never_dead_letters",
    "test_category_and_global_views_hold_every_event_in_append_order",
    "test_concurrent_writers_at_one_expected_version_have_exactly_one_winner",
    "test_deleted_group_is_recreated_under_a_running_worker",
    "test_expected_zero_refuses_an_existing_stream_and_any_accepts",
    "test_handler_failing_twice_runs_three_times_and_outputs_once",
    "test_log_reads_page_from_a_position",
    "test_long_handler_renewing_its_lease_is_never_run_twice",
    "test_malformed_and_invalid_entries_are_dead_lettered_on_first_delivery",
    "test_output_carries_correlation_and_causation",
    "test_partly_stored_batch_is_refused",
    "test_poison_reaches_dlq_and_healthy_event_behind_it_is_processed",
    "test_retried_append_is_a_noop_returning_the_existing_version",
    "test_same_event_id_delivered_twice_runs_handler_once",
    "test_sigterm_drains_and_acks_only_finished_work",
    "test_unflagged_duplicate_still_commits_its_outputs_once",
    "test_wrong_expected_version_names_both_and_writes_nothing",
]


@pytest.fixture
def redis_url(local_cluster: LocalCluster) -> str:
    """The cluster's URL where the suites expect the session's Redis."""
    return local_cluster.url


@pytest.fixture
def config(cluster_config: BusConfig) -> BusConfig:
    return cluster_config


@pytest.fixture
async def client(cluster_config: BusConfig) -> AsyncIterator[Redis]:
    """A RedisCluster client on empty masters, where the suites expect a plain client."""
    c = connect(cluster_config.redis_url or "", cluster_config)
    await c.flushall()
    yield c
    await c.aclose()


@pytest.fixture
def store(client: Redis, config: BusConfig) -> EventStore:
    return EventStore(client, config)
