"""History and the event stream on a server with --auth: only what the caller may read."""

from __future__ import annotations

import time

from tests.api.history.conftest import NATIVE, workspace_model
from tests.api.history.test_stream import Subscriber
from tests.api.identity.conftest import AuthServer


def test_history_and_stream_show_only_readable_models(auth_server: AuthServer) -> None:
    user = auth_server.new_user("reader")
    with auth_server.admin() as admin:
        hidden, shown = workspace_model(admin, 2), workspace_model(admin, 2)
    auth_server.set_level(shown, user.name, "CAN_READ")
    sub = Subscriber(auth_server.url, {}, headers={"Authorization": f"Bearer {user.token}"})
    try:
        assert sub.status == 200
        with auth_server.admin() as admin:
            for name in (hidden, shown, hidden):
                moved = admin.put(f"{NATIVE}/{name}/aliases/champion",
                                  json={"version": "2", "reason": "r"})
                assert moved.status_code == 200, moved.text
        event = sub.next()
        assert event["data"]["model"] == shown
        time.sleep(0.5)
        assert sub.events.empty(), "the hidden model's events are not sent"
    finally:
        sub.close()
    with auth_server.client(user.token) as client:
        assert client.get(f"{NATIVE}/{shown}/aliases/champion/history").status_code == 200
        refused = client.get(f"{NATIVE}/{hidden}/aliases/champion/history")
        assert refused.status_code == 404, refused.text
        # Reading is not moving: a reader may neither move nor roll back.
        move = client.put(f"{NATIVE}/{shown}/aliases/champion", json={"version": "1"})
        assert move.status_code == 403, move.text
        back = client.post(f"{NATIVE}/{shown}/aliases/champion/rollback", json={})
        assert back.status_code in (400, 403), back.text
    anonymous = Subscriber(auth_server.url, {})
    assert anonymous.status == 401
    anonymous.close()
