"""The inbox in the Django admin: read-only pages, filters, search, the two replay actions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from inbox.support import lead_body

from boltcall_webhooks import NewLeadEvent, Router
from boltcall_webhooks.inbox import DeliveryState, Inbox

from .inbox_db import django_database, inbox_db

__all__ = ["django_database", "inbox_db"]  # fixtures

CHANGELIST = "/admin/boltcall_webhooks/delivery/"
SELECTED = re.compile(r'name="_selected_action" value="(\d+)"')


@pytest.fixture
def inbox(inbox_db: None) -> Iterator[Inbox]:
    """A Django inbox holding three done, two dead and one pending delivery."""
    inbox = Inbox("django", max_attempts=1)
    router = Router()

    @router.on(NewLeadEvent)
    def fails_on_lead_3(event: NewLeadEvent) -> None:
        if event.raw["data"]["id"] == "lead_000003":
            raise RuntimeError("lead 3 fails")

    for number in (1, 2, 3):
        inbox.store(lead_body(number))
    inbox.store(lead_body(4, event="missed_call"))  # no handler: done
    inbox.store(b'{"not": "an envelope"}')  # dead at once
    inbox.work(router, once=True)
    inbox.store(lead_body(5))  # pending
    with override_settings(ROOT_URLCONF="adapters.django.urls_inbox"):
        yield inbox
    inbox.close()


def _client(*permissions: str, superuser: bool = False) -> Client:
    user = User.objects.create_user("staff", password="x", is_staff=True, is_superuser=superuser)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def _ids(client: Client, query: str = "") -> list[int]:
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200
    return [int(value) for value in SELECTED.findall(response.content.decode())]


def _by_id(inbox: Inbox, number: int) -> int:
    key_part = f"lead_{number:06d}"
    return next(d.id for d in inbox.list(limit=100) if key_part in d.key)


def test_the_change_list_shows_every_column_newest_first(inbox: Inbox) -> None:
    """Received, event type, state, attempts, duplicates and key, newest first."""
    client = _client(superuser=True)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    for header in ("Received at", "Event type", "State", "Attempts", "Duplicates", "Key"):
        assert header in html
    assert _ids(client) == [d.id for d in inbox.list(limit=100)]
    assert len(_ids(client)) == 6


def test_filters_by_state_and_type_and_search_by_key_and_resource_id(inbox: Inbox) -> None:
    """The state and type filters and the search find exactly the matching rows."""
    client = _client(superuser=True)
    assert _ids(client, "?state__exact=dead") == [
        d.id for d in inbox.list(state="dead", limit=100)
    ]
    assert len(_ids(client, "?state__exact=dead")) == 2
    assert _ids(client, "?event_type__exact=missed_call") == [
        d.id for d in inbox.list(type="missed_call")
    ]
    two = _by_id(inbox, 2)
    assert _ids(client, "?q=" + inbox.get(two).key) == [two]
    assert _ids(client, "?q=lead_000002") == [two]  # the envelope's data.id
    assert _ids(client, "?q=lead_0000") == []  # exact matches only (indexed)


def test_the_detail_page_shows_the_body_pretty_and_read_only(inbox: Inbox) -> None:
    """The body indented and escaped; no form field for the key, body or state."""
    client = _client(superuser=True)
    dead = _by_id(inbox, 3)
    response = client.get(f"{CHANGELIST}{dead}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    pretty = json.dumps(json.loads(lead_body(3)), indent=2)
    assert pretty.splitlines()[1].replace('"', "&quot;") in html  # indented JSON
    assert "lead 3 fails" in html  # the last error and traceback
    for field in ("key", "body", "state", "attempts"):
        assert f'name="{field}"' not in html
    assert 'name="_save"' not in html


def test_nobody_can_add_change_or_delete_a_delivery(inbox: Inbox) -> None:
    """Even a superuser: add and delete pages 403; a POST to the page changes nothing."""
    client = _client(superuser=True)
    delivery = inbox.list(limit=1)[0]
    assert client.get(CHANGELIST + "add/").status_code == 403
    assert client.get(f"{CHANGELIST}{delivery.id}/delete/").status_code == 403
    response = client.post(
        f"{CHANGELIST}{delivery.id}/change/", {"key": "forged", "body": "{}", "_save": "Save"}
    )
    assert response.status_code == 403
    assert inbox.get(delivery.id) == delivery


def test_the_replay_action_runs_selected_deliveries_again(inbox: Inbox) -> None:
    """A done and a dead delivery go back to pending with attempts reset."""
    client = _client(superuser=True)
    done, dead = _by_id(inbox, 1), _by_id(inbox, 3)
    response = client.post(
        CHANGELIST, {"action": "replay", "_selected_action": [done, dead]}, follow=True
    )
    assert response.status_code == 200
    assert "Replayed 2 deliveries." in response.content.decode()
    for delivery_id in (done, dead):
        delivery = inbox.get(delivery_id)
        assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 0)
    assert inbox.get(_by_id(inbox, 2)).state is DeliveryState.DONE  # not selected


def test_the_replay_dead_action_replays_every_dead_delivery(inbox: Inbox) -> None:
    """Whatever is selected, every dead delivery with a body is replayed."""
    client = _client(superuser=True)
    assert inbox.stats() == {"pending": 1, "processing": 0, "done": 3, "dead": 2}
    done = _by_id(inbox, 1)
    response = client.post(
        CHANGELIST, {"action": "replay_dead", "_selected_action": [done]}, follow=True
    )
    assert "Replayed 2 dead deliveries." in response.content.decode()
    assert inbox.stats() == {"pending": 3, "processing": 0, "done": 3, "dead": 0}


def test_a_user_without_the_replay_permission_is_refused(inbox: Inbox) -> None:
    """View permission shows the list; the actions are neither offered nor run."""
    client = _client("view_delivery")
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert 'value="replay"' not in response.content.decode()
    before = inbox.stats()
    dead = _by_id(inbox, 3)
    for action in ("replay", "replay_dead"):
        client.post(CHANGELIST, {"action": action, "_selected_action": [dead]})
    assert inbox.stats() == before
    assert inbox.get(dead).state is DeliveryState.DEAD


def test_the_replay_permission_allows_the_actions(inbox: Inbox) -> None:
    """A staff user with view + replay permissions (not a superuser) may replay."""
    client = _client("view_delivery", "replay_delivery")
    assert 'value="replay"' in client.get(CHANGELIST).content.decode()
    dead = _by_id(inbox, 3)
    client.post(CHANGELIST, {"action": "replay", "_selected_action": [dead]})
    assert inbox.get(dead).state is DeliveryState.PENDING


def test_a_user_without_view_permission_sees_nothing(inbox: Inbox) -> None:
    """Staff without any inbox permission: 403 on the list and on a delivery."""
    client = _client()
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(f"{CHANGELIST}{_by_id(inbox, 1)}/change/").status_code == 403
