"""The client's protocol state machine, without sockets (docs/PROTOCOL.md,
"Client rules")."""

import json
import os
import random

import pytest

from policybus import PolicyBusError
from policybus.protocol import Session, data_endpoint, topic

EPOCH = "e1"


def delta(table, seq, added=(), removed=(), epoch=EPOCH):
    body = {"type": "delta", "pub": "n", "epoch": epoch, "seq": seq,
            "added": [list(r) for r in added], "removed": [list(r) for r in removed]}
    return table.encode() + b" " + json.dumps(body).encode()


def hb(table, seq, epoch=EPOCH):
    return table.encode() + b" " + json.dumps({"type": "hb", "pub": "n", "epoch": epoch, "seq": seq}).encode()


def snapshot_reply(rid, tables, epoch=EPOCH, heartbeat_ms=1000, lease_ms=10000):
    """``tables``: name -> (seq, rows)."""
    return json.dumps({"ok": True, "id": rid, "data": "tcp://*:7001", "epoch": epoch,
                       "heartbeat_ms": heartbeat_ms, "lease_ms": lease_ms,
                       "tables": {t: {"seq": s, "columns": None, "rows": [list(r) for r in rows]}
                                  for t, (s, rows) in tables.items()}}).encode()


def error_reply(rid, code):
    return json.dumps({"ok": False, "id": rid, "error": {"code": code, "message": "no"}}).encode()


def subscribed(table="a:error", seq=0, rows=(), epoch=EPOCH, **timers):
    """A session following ``table`` with the given snapshot applied."""
    s = Session("tcp://10.0.0.5:7000", client_id="c1")
    s.add_tables([table])
    rid, _ = s.subscribe_request([table])
    s.on_reply(snapshot_reply(rid, {table: (seq, rows)}, epoch=epoch, **timers))
    return s


def sent_ops(requests):
    return [(json.loads(frame)["op"], json.loads(frame).get("tables")) for _, frame in requests]


# MARK: - Endpoints and topics

def test_topic_ends_with_a_space():
    assert topic("alice:error") == b"alice:error "


@pytest.mark.parametrize("advertised, control, expected", [
    ("tcp://*:7001", "tcp://10.0.0.5:7000", "tcp://10.0.0.5:7001"),
    ("tcp://0.0.0.0:7001", "tcp://engine-a:7000", "tcp://engine-a:7001"),
    ("tcp://192.168.1.2:7001", "tcp://10.0.0.5:7000", "tcp://192.168.1.2:7001"),
    ("tcp://*:7001", "tcp://*:7000", "tcp://127.0.0.1:7001"),
    ("ipc:///tmp/x", "tcp://10.0.0.5:7000", "ipc:///tmp/x"),
])
def test_data_endpoint_substitutes_wildcard_hosts(advertised, control, expected):
    assert data_endpoint(advertised, control) == expected


def test_subscribe_reply_sets_resolved_data_endpoint_and_timers():
    s = subscribed()
    assert s.data == "tcp://10.0.0.5:7001"
    assert s.heartbeat == 1.0 and s.lease == 10.0


def test_bad_table_name_is_refused():
    s = Session("tcp://h:1")
    with pytest.raises(PolicyBusError) as err:
        s.add_tables(["a b"])
    assert err.value.code == "bad-table-name"


# MARK: - Snapshot, then deltas

def test_snapshot_then_deltas_in_order():
    s = Session("tcp://h:1")
    assert s.add_tables(["a:error"]) == [b"a:error "]
    rid, frame = s.subscribe_request(["a:error"])
    assert json.loads(frame) == {"op": "subscribe", "id": rid, "client": s.client_id, "tables": ["a:error"]}
    _, _, changes = s.on_reply(snapshot_reply(rid, {"a:error": (5, [(1,), (2,)])}))
    assert [(c.kind, sorted(c.added), c.seq) for c in changes] == [("snapshot", [(1,), (2,)], 5)]
    assert changes[0].rows == {(1,), (2,)}
    c = s.on_data(delta("a:error", 6, added=[(3,)], removed=[(1,)]))
    assert (c.table, c.kind, c.added, c.removed, c.rows, c.seq) == ("a:error", "delta", [(3,)], [(1,)], None, 6)
    assert s.rows("a:error") == {(2,), (3,)}
    assert not s.wants_send


def test_rows_are_tuples_of_json_values():
    s = subscribed(rows=[("vm1", 2, 1.5)])
    s.on_data(delta("a:error", 1, added=[("vm2", 3, 2.5)]))
    assert s.rows("a:error") == {("vm1", 2, 1.5), ("vm2", 3, 2.5)}


def test_buffered_deltas_at_or_below_snapshot_seq_are_dropped():
    s = Session("tcp://h:1")
    s.add_tables(["a:error"])
    rid, _ = s.subscribe_request(["a:error"])
    # Arrive before the snapshot reply: seq 3 is inside the snapshot, 4 and 5 follow it.
    for frame in (delta("a:error", 3, added=[(3,)]), delta("a:error", 4, added=[(4,)]),
                  hb("a:error", 4), delta("a:error", 5, removed=[(3,)])):
        assert s.on_data(frame) is None
    _, _, changes = s.on_reply(snapshot_reply(rid, {"a:error": (3, [(1,), (3,)])}))
    assert [(c.kind, c.seq) for c in changes] == [("snapshot", 3), ("delta", 4), ("delta", 5)]
    assert s.rows("a:error") == {(1,), (4,)}
    assert not s.wants_send


def test_buffered_gap_after_snapshot_asks_for_resync():
    s = Session("tcp://h:1")
    s.add_tables(["a:error"])
    rid, _ = s.subscribe_request(["a:error"])
    s.on_data(delta("a:error", 6, added=[(6,)]))  # seq 5 never arrived
    _, _, changes = s.on_reply(snapshot_reply(rid, {"a:error": (4, [])}))
    assert [c.kind for c in changes] == ["snapshot"]
    assert s.wants_send
    assert sent_ops(s.tick()) == [("subscribe", ["a:error"])]


def test_buffered_messages_of_another_epoch_are_dropped():
    s = Session("tcp://h:1")
    s.add_tables(["a:error"])
    rid, _ = s.subscribe_request(["a:error"])
    s.on_data(delta("a:error", 1, added=[(9,)], epoch="old"))
    _, _, changes = s.on_reply(snapshot_reply(rid, {"a:error": (0, [])}, epoch="new"))
    assert [c.kind for c in changes] == ["snapshot"]
    assert s.rows("a:error") == set() and not s.wants_send


# MARK: - Resync triggers

def resync_round(s, table, seq, rows, epoch=EPOCH):
    """Runs the resync the session asks for, answering with a fresh snapshot."""
    requests = s.tick()
    assert sent_ops(requests) == [("subscribe", [table])]
    rid = requests[0][0]
    _, _, changes = s.on_reply(snapshot_reply(rid, {table: (seq, rows)}, epoch=epoch))
    return changes


def test_gap_triggers_resync_with_difference():
    s = subscribed(rows=[(1,), (2,)])
    assert s.on_data(delta("a:error", 2, added=[(3,)])) is None  # seq 1 lost
    assert s.wants_send and not s.is_synced("a:error")
    changes = resync_round(s, "a:error", 2, [(2,), (3,)])
    assert [(c.kind, c.added, c.removed, c.rows, c.seq) for c in changes] == \
        [("resync", [(3,)], [(1,)], frozenset({(2,), (3,)}), 2)]
    assert s.resyncs == 1
    # Deltas continue from the fresh snapshot.
    assert s.on_data(delta("a:error", 3, added=[(4,)])).seq == 3


def test_deltas_arriving_during_resync_are_buffered_and_applied():
    s = subscribed()
    s.on_data(delta("a:error", 2))  # gap
    requests = s.tick()
    s.on_data(delta("a:error", 3, added=[(3,)]))
    s.on_data(delta("a:error", 4, added=[(4,)]))
    _, _, changes = s.on_reply(snapshot_reply(requests[0][0], {"a:error": (3, [(3,)])}))
    assert [(c.kind, c.seq) for c in changes] == [("resync", 3), ("delta", 4)]
    assert s.rows("a:error") == {(3,), (4,)}


def test_new_epoch_triggers_resync():
    s = subscribed(seq=7)
    assert s.on_data(delta("a:error", 8, added=[(1,)], epoch="e2")) is None
    changes = resync_round(s, "a:error", 1, [(1,)], epoch="e2")
    assert [(c.kind, c.seq) for c in changes] == [("resync", 1)]
    assert s.on_data(delta("a:error", 2, added=[(2,)], epoch="e2")).kind == "delta"


def test_heartbeat_ahead_triggers_resync_equal_or_behind_does_not():
    s = subscribed(seq=4)
    assert s.on_data(hb("a:error", 4)) is None and not s.wants_send
    assert s.on_data(hb("a:error", 3)) is None and not s.wants_send
    assert s.on_data(hb("a:error", 5)) is None and s.wants_send


def test_heartbeat_of_new_epoch_triggers_resync():
    s = subscribed(seq=4)
    s.on_data(hb("a:error", 4, epoch="e2"))
    assert s.wants_send


def test_stale_delta_is_ignored():
    s = subscribed(seq=4, rows=[(1,)])
    assert s.on_data(delta("a:error", 4, removed=[(1,)])) is None
    assert s.rows("a:error") == {(1,)} and not s.wants_send


def test_silence_triggers_resync_after_three_heartbeats():
    s = subscribed(lease_ms=60000)
    s.now += 2.9
    assert sent_ops(s.tick()) == []
    s.on_data(hb("a:error", 0))  # heard: the silence clock restarts
    s.now += 2.9
    assert sent_ops(s.tick()) == []
    s.now += 0.2
    assert sent_ops(s.tick()) == [("subscribe", ["a:error"])]


def test_unanswered_resync_is_sent_again():
    s = subscribed()
    s.on_data(delta("a:error", 5))
    first = s.tick()
    s.now += s.request_timeout + 0.1
    second = s.tick()
    assert sent_ops(second)[0] == ("subscribe", ["a:error"])
    assert second[0][0] != first[0][0]
    # The late reply to the first request is taken; the second one's then
    # changes nothing.
    _, _, changes = s.on_reply(snapshot_reply(first[0][0], {"a:error": (9, [(9,)])}))
    assert [(c.kind, c.seq) for c in changes] == [("resync", 9)]
    _, _, changes = s.on_reply(snapshot_reply(second[0][0], {"a:error": (5, [(5,)])}))
    assert changes == [] and s.table_seq("a:error") == 9


def test_a_slow_resync_is_asked_for_less_and_less_often():
    # Issue 13's livelock: a node slower than the timeout to send a large
    # snapshot was asked for it again at every timeout, and each late reply
    # was thrown away. Now each repeat waits twice as long, up to 32 s.
    s = subscribed(lease_ms=6000000)
    s.on_data(delta("a:error", 5))
    sent = [s.now for op, _ in sent_ops(s.tick()) if op == "subscribe"]
    start = s.now
    while s.now - start < 600:  # ten minutes, ticked every 100 ms, no reply
        s.now += 0.1
        sent += [s.now for op, _ in sent_ops(s.tick()) if op == "subscribe"]
    gaps = [round(b - a) for a, b in zip(sent, sent[1:])]
    assert gaps[:5] == [3, 6, 12, 24, 32] and set(gaps[4:]) == {32}, gaps
    # A reply to an earlier request still outstanding is taken.
    _, _, changes = s.on_reply(snapshot_reply(s._next_id - 2, {"a:error": (7, [(7,)])}))
    assert [(c.kind, c.seq) for c in changes] == [("resync", 7)]
    assert s.all_synced()


def test_timed_out_resync_of_several_tables_asks_for_all_of_them_again():
    # Found by scripts/soak: a node paused longer than the request timeout
    # left every table but the first of a multi-table resync unsynced for good.
    s = Session("tcp://h:1", client_id="c1")
    s.add_tables(["p:a", "p:b"])
    rid, _ = s.subscribe_request(["p:a", "p:b"])
    s.on_reply(snapshot_reply(rid, {"p:a": (0, []), "p:b": (0, [])}, lease_ms=600000))
    s.now += 3.1  # both silent: a resync request for each (each resumes from its own seq)
    assert sorted(t for op, ts in sent_ops(s.tick()) if op == "subscribe" for t in ts) == ["p:a", "p:b"]
    s.now += s.request_timeout + 0.1  # the node never answered
    again = [t for op, ts in sent_ops(s.tick()) if op == "subscribe" for t in ts]
    assert sorted(again) == ["p:a", "p:b"]


def test_failed_resync_is_retried_failed_first_subscribe_is_not():
    s = Session("tcp://h:1")
    s.add_tables(["a:error"])
    rid, _ = s.subscribe_request(["a:error"])
    got, reply, changes = s.on_reply(error_reply(rid, "unknown-policy"))
    assert got == rid and reply["error"]["code"] == "unknown-policy" and changes == []
    assert not s.wants_send  # the caller raises and removes the table
    s = subscribed()
    s.on_data(delta("a:error", 3))
    requests = s.tick()
    s.on_reply(error_reply(requests[0][0], "internal"))
    assert s.wants_send
    assert sent_ops(s.tick()) == [("subscribe", ["a:error"])]


def test_not_ready_resync_is_asked_again_after_a_request_timeout():
    s = subscribed(rows=[(1,)])
    s.on_data(delta("a:error", 3))  # a gap: resync
    requests = s.tick()
    s.on_reply(error_reply(requests[0][0], "not-ready"))
    assert s.rows("a:error") == {(1,)}  # the rows stay until a snapshot
    assert [op for op, _ in sent_ops(s.tick())] in ([], ["renew"])
    s.now += s.request_timeout / 2
    assert "subscribe" not in [op for op, _ in sent_ops(s.tick())]
    s.now += s.request_timeout / 2 + 0.01
    requests = [r for r in s.tick() if json.loads(r[1])["op"] == "subscribe"]
    assert sent_ops(requests) == [("subscribe", ["a:error"])]
    _, _, changes = s.on_reply(snapshot_reply(requests[0][0], {"a:error": (3, [(1,), (2,)])}))
    assert [(c.kind, c.added, c.removed) for c in changes] == [("resync", [(2,)], [])]


def resumed_reply(rid, table, seq, deltas, epoch=EPOCH):
    """``deltas``: (seq, added, removed) each."""
    return json.dumps({"ok": True, "id": rid, "data": "tcp://*:7001", "epoch": epoch,
                       "tables": {table: {"seq": seq, "columns": None, "resumed": True, "deltas": [
                           {"seq": s, "added": [list(r) for r in a], "removed": [list(r) for r in r_]}
                           for s, a, r_ in deltas]}}}).encode()


def test_resync_asks_since_and_applies_the_missed_deltas():
    s = subscribed(seq=1, rows=[(1,)])
    s.on_data(delta("a:error", 3, added=[(3,)]))  # seq 2 lost
    requests = s.tick()
    body = json.loads(requests[0][1])
    assert (body["op"], body["tables"], body["since"]) == ("subscribe", ["a:error"], {"epoch": EPOCH, "seq": 1})
    _, _, changes = s.on_reply(resumed_reply(requests[0][0], "a:error", 3, [(2, [(2,)], [(1,)]), (3, [(3,)], [])]))
    assert [(c.kind, c.added, c.removed, c.seq) for c in changes] == [
        ("delta", [(2,)], [(1,)], 2), ("delta", [(3,)], [], 3)]
    assert s.rows("a:error") == {(2,), (3,)} and s.is_synced("a:error")
    assert (s.resyncs, s.resumes) == (1, 1)
    assert s.on_data(delta("a:error", 4, added=[(4,)])).seq == 4  # live again


def test_a_new_epoch_asks_for_a_snapshot_without_since():
    s = subscribed(seq=1, rows=[(1,)])
    s.on_data(hb("a:error", 0, epoch="e2"))
    body = json.loads(s.tick()[0][1])
    assert body["op"] == "subscribe" and "since" not in body


def test_a_resume_that_does_not_follow_the_rows_asks_for_a_snapshot():
    s = subscribed(seq=1, rows=[(1,)])
    s.on_data(delta("a:error", 5))
    requests = s.tick()
    _, _, changes = s.on_reply(resumed_reply(requests[0][0], "a:error", 5, [(5, [], [(1,)])]))
    assert changes == [] and s.rows("a:error") == {(1,)}
    again = json.loads(s.tick()[0][1])
    assert again["op"] == "subscribe" and "since" not in again


# MARK: - Topics, unsubscribe, lease

def test_topics_match_exactly():
    s = subscribed("a:error")
    assert s.on_data(delta("a:errors", 1, added=[(1,)])) is None
    assert s.on_data(b"a:error" + b"s" + b" " + b"{}") is None
    assert s.dropped == 2 and s.rows("a:error") == set()


def test_removed_table_ignores_data():
    s = subscribed("a:error")
    assert s.remove_tables(["a:error"]) == [b"a:error "]
    assert s.on_data(delta("a:error", 1, added=[(1,)])) is None
    with pytest.raises(PolicyBusError) as err:
        s.rows("a:error")
    assert err.value.code == "not-subscribed"


def test_unknown_message_type_is_ignored():
    s = subscribed()
    frame = b"a:error " + json.dumps({"type": "future", "epoch": EPOCH, "seq": 99}).encode()
    assert s.on_data(frame) is None and not s.wants_send


def test_lease_is_renewed_every_third_of_it():
    s = subscribed(heartbeat_ms=60000, lease_ms=3000)
    s.now += 0.9
    assert sent_ops(s.tick()) == []
    s.now += 0.2
    assert sent_ops(s.tick()) == [("renew", None)]
    s.now += 0.5
    s.on_data(hb("a:error", 0))  # data is not a renewal; only requests count
    assert sent_ops(s.tick()) == []
    s.now += 0.6
    assert sent_ops(s.tick()) == [("renew", None)]


def test_reply_that_is_not_json_is_bad_reply():
    s = Session("tcp://h:1")
    with pytest.raises(PolicyBusError) as err:
        s.on_reply(b"{nope")
    assert err.value.code == "bad-reply"


def test_reply_for_unknown_id_is_returned_unmatched():
    s = Session("tcp://h:1")
    got, reply, changes = s.on_reply(b'{"ok":true,"id":77}')
    assert got is None and reply["id"] == 77 and changes == []


# MARK: - Property: a lossy stream still converges

def test_random_losses_converge_to_publisher_contents():
    seed = int(os.environ.get("POLICYBUS_SEED", random.randrange(1 << 30)))
    print(f"seed={seed}")
    rnd = random.Random(seed)
    for _ in range(50):
        truth, seq, epoch = set(), 0, "e0"
        s = Session("tcp://h:1")
        s.add_tables(["t:x"])
        pending = [s.subscribe_request(["t:x"])[0]]
        for step in range(200):
            if rnd.random() < 0.02:   # the publisher restarts
                epoch, seq = f"e{step}", 0
            added = {(rnd.randrange(20),) for _ in range(rnd.randrange(3))} - truth
            removed = {r for r in truth if rnd.random() < 0.1}
            truth = (truth - removed) | added
            seq += 1
            if rnd.random() > 0.1:    # 10% of deltas are lost
                s.on_data(delta("t:x", seq, added, removed, epoch=epoch))
            if pending and rnd.random() < 0.3:   # the snapshot reply arrives
                s.on_reply(snapshot_reply(pending.pop(), {"t:x": (seq, truth)}, epoch=epoch))
            pending += [rid for rid, _ in s.tick() if rid not in pending and s._inflight[rid][0] == "subscribe"]
        # The flow settles: heartbeats until every resync is answered.
        for _ in range(20):
            s.on_data(hb("t:x", seq, epoch=epoch))
            pending += [rid for rid, _ in s.tick() if s._inflight.get(rid, ("",))[0] == "subscribe"]
            while pending:
                s.on_reply(snapshot_reply(pending.pop(), {"t:x": (seq, truth)}, epoch=epoch))
        assert s.rows("t:x") == truth, f"seed={seed}"
        assert s.is_synced("t:x")


def test_resync_all_asks_again_for_every_table():
    s = subscribed("a:error")
    s.add_tables(["a:warn"])
    rid, _ = s.subscribe_request(["a:warn"])
    s.on_reply(snapshot_reply(rid, {"a:warn": (0, [])}))
    assert s.all_synced()
    s.resync_all()
    assert not s.all_synced() and s.wants_send
    ops = sent_ops(s.tick())
    assert sorted(t for op, ts in ops if op == "subscribe" for t in ts) == ["a:error", "a:warn"]


def test_subscribe_reply_with_a_new_data_endpoint_moves_the_sub_and_resyncs():
    s = subscribed("a:error", seq=3, rows=[(1,)])
    s.sub_endpoint = s.data
    assert s.data_move() is None  # the same endpoint: nothing to do
    s.on_data(hb("a:error", 3))
    s.resync_all()  # e.g. silence; the reply comes from the restarted node
    (rid, _), = s.tick()
    moved = json.loads(snapshot_reply(rid, {"a:error": (0, [(1,)])}, epoch="e2"))
    moved["data"] = "tcp://*:7002"
    s.on_reply(json.dumps(moved).encode())
    assert s.data_move() == ("tcp://10.0.0.5:7001", "tcp://10.0.0.5:7002")
    assert s.sub_endpoint == "tcp://10.0.0.5:7002" and s.data_move() is None
    # The snapshot was taken before the SUB listened there: ask again.
    assert not s.all_synced()
    assert sent_ops(s.tick())[0] == ("subscribe", ["a:error"])


def test_data_move_waits_for_the_sub():
    s = subscribed()
    assert s.sub_endpoint is None and s.data_move() is None  # no SUB connected yet


def test_live_after_data_following_the_snapshot():
    s = subscribed()
    assert s.all_synced() and not s.all_live()
    s.on_data(hb("a:error", 0))
    assert s.all_live()
    # Data buffered before the snapshot proves the subscription as well.
    s = Session("tcp://h:1")
    s.add_tables(["a:error"])
    rid, _ = s.subscribe_request(["a:error"])
    s.on_data(hb("a:error", 0))
    s.on_reply(snapshot_reply(rid, {"a:error": (0, [])}))
    assert s.all_live()


def test_renew_reply_missing_a_table_resyncs_it():
    s = subscribed("a:error")
    renew_id, _ = s.request("renew")
    # A table subscribed after the renew was sent is not judged by its reply.
    s.add_tables(["a:late"])
    rid, _ = s.subscribe_request(["a:late"])
    s.on_reply(snapshot_reply(rid, {"a:late": (0, [])}))
    s.on_reply(json.dumps({"ok": True, "id": renew_id, "tables": []}).encode())
    assert sent_ops(s.tick())[0] == ("subscribe", ["a:error"])
    # A reply that lists the table changes nothing.
    s = subscribed("a:error")
    renew_id, _ = s.request("renew")
    s.on_reply(json.dumps({"ok": True, "id": renew_id, "tables": ["a:error"]}).encode())
    assert not s.wants_send


@pytest.mark.parametrize("body", [
    b"{not json", b"[1, 2]", b'{"type": "delta"}', b'"text"',
    b'{"type":"delta","epoch":"e1","seq":1,"added":[[[1]]],"removed":[]}',   # a row holding an array
    b'{"type":"delta","epoch":"e1","seq":1,"added":7,"removed":[]}',
])
def test_malformed_data_is_counted_and_the_table_resynced(body):
    s = subscribed(rows=[(1,)])
    assert s.on_data(b"a:error " + body) is None
    assert s.bad_frames == 1 and s.wants_send
    changes = resync_round(s, "a:error", 1, [(1,), (2,)])
    assert [(c.kind, c.added) for c in changes] == [("resync", [(2,)])]
    assert s.on_data(delta("a:error", 2, added=[(3,)])).kind == "delta"


def test_malformed_snapshot_is_asked_for_again():
    s = Session("tcp://h:1")
    s.add_tables(["a:error"])
    rid, _ = s.subscribe_request(["a:error"])
    bad = json.dumps({"ok": True, "id": rid, "epoch": EPOCH, "tables": {"a:error": {"seq": 0, "rows": 5}}})
    assert s.on_reply(bad.encode())[2] == []
    assert s.bad_frames == 1
    assert sent_ops(s.tick()) == [("subscribe", ["a:error"])]


# MARK: - Chunked snapshots (docs/PROTOCOL.md, "Chunked snapshots")

def chunked_reply(rid, table, seq, snapshot, total, epoch=EPOCH):
    return json.dumps({"ok": True, "id": rid, "data": "tcp://*:7001", "epoch": epoch,
                       "heartbeat_ms": 1000, "lease_ms": 10000,
                       "tables": {table: {"seq": seq, "columns": None,
                                          "chunked": {"snapshot": snapshot, "rows": total}}}}).encode()


def chunk_reply(request, rows, more):
    body = json.loads(request[1])
    return json.dumps({"ok": True, "id": request[0], "offset": body["offset"],
                       "rows": [list(r) for r in rows], "more": more}).encode()


def chunked_session(total, seq=4):
    s = Session("tcp://10.0.0.5:7000", client_id="c1")
    s.add_tables(["a:error"])
    rid, _ = s.subscribe_request(["a:error"])
    _, _, changes = s.on_reply(chunked_reply(rid, "a:error", seq, "s1", total))
    assert changes == [] and not s.is_synced("a:error")
    return s


def test_a_chunked_snapshot_is_read_one_chunk_at_a_time_then_the_buffered_deltas():
    s = chunked_session(5)
    rows = [(n,) for n in range(1, 6)]
    offset, changes = 0, []
    for index, size in enumerate([2, 2, 1]):
        requests = s.tick()
        assert [json.loads(f)["op"] for _, f in requests] == ["snapshot-chunk"]  # one in flight
        body = json.loads(requests[0][1])
        assert body["snapshot"] == "s1" and body["offset"] == offset
        assert s.on_data(delta("a:error", 5 + index, added=[(100 + index,)])) is None  # buffered
        offset += size
        _, _, got = s.on_reply(chunk_reply(requests[0], rows[offset - size:offset], 5 - offset))
        changes += got
    assert [c.kind for c in changes] == ["snapshot", "delta", "delta", "delta"]
    assert changes[0].rows == frozenset(rows) and changes[0].seq == 4
    assert s.rows("a:error") == set(rows) | {(100,), (101,), (102,)} and s.table_seq("a:error") == 7
    assert [json.loads(f)["op"] for _, f in s.tick()] == []


def test_a_timed_out_chunk_is_asked_again_and_a_late_reply_taken():
    s = chunked_session(2, seq=1)
    first = s.tick()[0]
    assert s.tick() == []  # in time: nothing more
    s.now += s.request_timeout
    second = s.tick()[0]
    assert json.loads(second[1])["offset"] == 0
    s.on_reply(chunk_reply(first, [(1,)], 1))
    nxt = s.tick()[0]
    assert json.loads(nxt[1])["offset"] == 1
    assert s.on_reply(chunk_reply(second, [(1,)], 1))[2] == []  # a duplicate
    _, _, changes = s.on_reply(chunk_reply(nxt, [(2,)], 0))
    assert [c.kind for c in changes] == ["snapshot"] and s.rows("a:error") == {(1,), (2,)}


@pytest.mark.parametrize("how", ["gone", "short"])
def test_a_broken_chunked_snapshot_is_asked_for_again(how):
    s = chunked_session(3, seq=1)
    request = s.tick()[0]
    answer = error_reply(request[0], "snapshot-gone") if how == "gone" else chunk_reply(request, [(1,), (2,)], 0)
    assert s.on_reply(answer)[2] == []
    again = [json.loads(f) for _, f in s.tick()]
    assert [(b["op"], "since" in b) for b in again] == [("subscribe", False)]
    assert not s.is_synced("a:error")
