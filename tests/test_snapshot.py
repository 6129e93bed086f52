"""Fork-less BGSAVE (persistence/snapshot.py): the file holds the dataset as it was when the
save started, whatever the writes served between its slices (copy-on-write per key)."""

from __future__ import annotations

import os
import random

from tandemkv.commands import Instance, execute
from tandemkv.config import Config
from tandemkv.persistence import attach, step
from tandemkv.persistence.rdb import Limits, read_file
from tandemkv.values.lists import ListValue
from tandemkv.values.sets import SetValue


def _plain(value: object) -> object:
    if isinstance(value, ListValue):
        return ("list", list(value))
    if isinstance(value, SetValue):
        return ("set", sorted(value.members))
    return value


def _state(instance: Instance) -> dict:
    return {
        (index, key): (_plain(value), deadline)
        for index, db in enumerate(instance.dbs)
        for key, value, deadline in db.items()
    }


def _instance(tmp_path) -> Instance:
    config = Config()
    config.set("dir", str(tmp_path).encode(), startup=True)
    instance = Instance(config)
    attach(instance)
    instance.rdb.schedule = lambda: None  # the test runs the slices itself
    return instance


def _file_state(tmp_path) -> dict:
    data = (tmp_path / "dump.rdb").read_bytes()
    return {(k.db, k.key): (_plain(k.value), k.deadline_ms) for k in read_file(data, Limits())}


def _fill(session, rng: random.Random) -> None:
    for db in (0, 1, 2):
        execute(session, [b"SELECT", str(db).encode()])
        for i in range(200):
            key = b"k%d" % i
            kind = i % 3
            if kind == 0:
                execute(session, [b"SET", key, b"v%d" % rng.randrange(1000)])
            elif kind == 1:
                execute(session, [b"RPUSH", key, *[b"e%d" % j for j in range(1 + i % 5)]])
            else:
                execute(session, [b"SADD", key, *[b"%d" % j for j in range(1 + i % 4)]])
            if i % 7 == 0:
                execute(session, [b"PEXPIRE", key, b"%d" % (10_000_000 + i)])
    execute(session, [b"SELECT", b"0"])


def _random_write(session, rng: random.Random) -> None:
    key = b"k%d" % rng.randrange(260)  # some keys are new
    choice = rng.randrange(10)
    commands = [
        [b"SET", key, b"new"],
        [b"DEL", key],
        [b"RPUSH", key, b"pushed"],
        [b"LPOP", key],
        [b"SADD", key, b"added"],
        [b"EXPIRE", key, b"5000"],
        [b"PERSIST", key],
        [b"RENAME", key, b"k%d" % rng.randrange(260)],
        [b"SELECT", str(rng.randrange(3)).encode()],
        [b"SWAPDB", b"0", b"1"],
    ]
    execute(session, commands[choice])


def test_bgsave_writes_the_dataset_as_it_was_at_the_start(tmp_path):
    rng = random.Random(11)
    instance = _instance(tmp_path)
    session = instance.new_session()
    _fill(session, rng)
    expected = _state(instance)
    assert execute(session, [b"BGSAVE"]).text == b"Background saving started"
    assert b"rdb_bgsave_in_progress:1" in execute(session, [b"INFO", b"persistence"]).text
    assert execute(session, [b"SAVE"]).message == "ERR Background save already in progress"
    assert execute(session, [b"BGSAVE"]).message == "ERR Background save already in progress"
    slices = 0
    while step(instance, 0.0, batch=3):
        slices += 1
        for _ in range(4):
            _random_write(session, rng)
    assert slices > 50
    assert _state(instance) != expected  # the writes did change the dataset
    assert _file_state(tmp_path) == expected
    info = execute(session, [b"INFO", b"persistence"]).text
    assert b"rdb_bgsave_in_progress:0" in info and b"rdb_last_bgsave_status:ok" in info
    assert not [p for p in os.listdir(tmp_path) if p.startswith("temp-")]


def test_flushes_during_bgsave_write_the_database_first(tmp_path):
    instance = _instance(tmp_path)
    session = instance.new_session()
    _fill(session, random.Random(3))
    expected = _state(instance)
    execute(session, [b"BGSAVE"])
    step(instance, 0.0, batch=5)
    execute(session, [b"SELECT", b"1"])
    execute(session, [b"FLUSHDB"])
    step(instance, 0.0, batch=5)
    execute(session, [b"FLUSHALL"])
    execute(session, [b"SET", b"after", b"1"])
    while step(instance, 0.0, batch=5):
        pass
    assert _file_state(tmp_path) == expected


def test_bgsave_without_a_server_runs_at_once_and_save_counts_changes(tmp_path):
    instance = _instance(tmp_path)
    instance.rdb.schedule = None
    session = instance.new_session()
    execute(session, [b"SET", b"a", b"1"])
    execute(session, [b"RPUSH", b"l", b"x"])
    assert instance.rdb.dirty == 2
    execute(session, [b"BGSAVE"])
    assert instance.rdb.job is None and instance.rdb.dirty == 0
    assert _file_state(tmp_path) == {(0, b"a"): (b"1", None), (0, b"l"): (("list", [b"x"]), None)}
    execute(session, [b"DEL", b"a"])
    assert execute(session, [b"SAVE"]).text == b"OK"
    assert _file_state(tmp_path) == {(0, b"l"): (("list", [b"x"]), None)}
    assert execute(session, [b"BGSAVE", b"SCHEDULE"]).text == b"Background saving started"
    assert execute(session, [b"BGSAVE", b"x"]).message == "ERR syntax error"


def test_a_value_type_without_an_rdb_pair_fails_dump_and_save_cleanly(tmp_path):
    class Unknown:
        nbytes = 64

        def __len__(self) -> int:
            return 1

    instance = _instance(tmp_path)
    session = instance.new_session()
    instance.dbs[0].set(b"odd", Unknown())
    assert execute(session, [b"DUMP", b"odd"]).message == "ERR no RDB serialization for Unknown"
    assert execute(session, [b"SAVE"]).message == "ERR"
    # As Redis: a foreground SAVE's failure is not the last background save's status.
    assert b"rdb_last_bgsave_status:ok" in execute(session, [b"INFO", b"persistence"]).text
    assert not os.listdir(tmp_path)  # the temp file is removed
    assert execute(session, [b"BGSAVE"]).text == b"Background saving started"
    while step(instance, 1.0):
        pass
    assert b"rdb_last_bgsave_status:err" in execute(session, [b"INFO", b"persistence"]).text
    assert not os.listdir(tmp_path)
