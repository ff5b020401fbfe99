"""Operators read back what they wrote: a leader, the leaders, the sessions."""

from __future__ import annotations

from tests.helpers import Api, auth, live_session


async def test_a_leader_reads_back_as_written_by_its_operator_and_itself(api: Api) -> None:
    op = api.operator
    spec = {"name": "Ms Li, Garden Estate", "webhook_url": "http://leader.test/hook", "commission_rate": 0.05}
    assert (await api.http.put("/v1/leaders/L-07", json=spec, headers=op)).status_code == 200
    r = await api.http.get("/v1/leaders/L-07", headers=op)
    assert r.status_code == 200, r.text
    assert r.json() == {"leader_id": "L-07", **spec}
    # The leader itself may read its own; another leader may not.
    assert (await api.http.get("/v1/leaders/L-07", headers=auth(api.secret, "leader", "L-07"))).json() == r.json()
    r = await api.http.get("/v1/leaders/L-07", headers=auth(api.secret, "leader", "L-08"))
    assert (r.status_code, r.json()["code"]) == (403, "forbidden"), r.text
    r = await api.http.get("/v1/leaders/L-404", headers=op)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_leader"), r.text


async def test_the_leaders_and_the_sessions_are_listed(api: Api) -> None:
    op = api.operator
    for leader_id in ("L-2", "L-1"):
        r = await api.http.put(f"/v1/leaders/{leader_id}", json={"name": leader_id}, headers=op)
        assert r.status_code == 200, r.text
    r = await api.http.get("/v1/leaders", headers=op)
    assert r.status_code == 200, r.text
    assert [leader["leader_id"] for leader in r.json()["leaders"]] == ["L-1", "L-2"]

    assert (await api.http.get("/v1/sessions", headers=op)).json() == {"sessions": []}
    await api.setup("S-later", live_session(starts_at="2030-01-01T20:00:00+08:00",
                                            ends_at="2030-01-01T22:00:00+08:00"))
    await api.setup("S-now", live_session())
    r = await api.http.get("/v1/sessions", headers=op)
    assert r.status_code == 200, r.text
    listed = r.json()["sessions"]
    assert [(s["session_id"], s["state"], s["title"]) for s in listed] == [
        ("S-now", "live", "Spring tasting live"), ("S-later", "scheduled", "Spring tasting live")]
    assert listed[1]["starts_at"] == "2030-01-01T20:00:00+08:00"
    # Operators only.
    viewer = api.viewer("phone:13800000001")
    assert (await api.http.get("/v1/sessions", headers=viewer)).status_code == 403
    assert (await api.http.get("/v1/leaders", headers=viewer)).status_code == 403
