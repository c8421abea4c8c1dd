"""The configured django-q2 broker (Redis where REDIS_URL is set, the database otherwise) carries a
task from the web process to a worker."""

from __future__ import annotations

import pytest
from django.conf import settings
from django_q.brokers import get_broker
from django_q.signing import SignedPackage
from django_q.tasks import async_task


@pytest.mark.django_db(transaction=True)
def test_an_enqueued_task_reaches_the_broker_intact() -> None:
    broker = get_broker()
    broker.purge_queue()
    expected_kind = "Redis" if settings.REDIS_URL else "ORM"
    assert type(broker).__name__ == expected_kind

    task_id = async_task("operator.add", 2, 3)

    delivered = broker.dequeue()
    assert delivered, "nothing was delivered"
    ack_id, payload = delivered[0]
    task = SignedPackage.loads(payload)
    assert (task["id"], task["func"], task["args"]) == (task_id, "operator.add", (2, 3))
    broker.acknowledge(ack_id)
