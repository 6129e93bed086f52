"""Fork-less BGSAVE (persistence/snapshot.py): the file holds the dataset as it was when the
save started, whatever the writes served between its slices (copy-on-write per key)."""

from __future__ import annotations

import os
import random

import pytest

from tandemkv.commands import Instance, execute
from tandemkv.config import Config
from tandemkv.keyspace.engine import shard_hash
from tandemkv.persistence import attach, snapshot, step
from tandemkv.persistence.rdb import Limits, read_file
from tandemkv.protocol import OK
from tandemkv.values.lists import ListValue
from tandemkv.values.sets import SetValue
from tandemkv.values.streams import make_id


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


def _instance(tmp_path, high_keys: int = 512) -> Instance:
    config = Config()
    config.set("dir", str(tmp_path).encode(), startup=True)
    # Small shards: a save spans many shards, and new keys start migration steps during it.
    config.set("engine-shard-high-keys", str(high_keys).encode(), startup=True)
    config.set("engine-shard-low-keys", str(max(1, high_keys // 4)).encode(), startup=True)
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


# Shards of 16-32 keys are written in one slice each, bigger ones over several
# (KEYS_PER_CLOCK_CHECK): writes land between, on keys written already and on keys not yet.
@pytest.mark.parametrize(("seed", "high_keys"), [(11, 512), (12, 16), (13, 16), (14, 32), (15, 64), (16, 128)])
def test_bgsave_writes_the_dataset_as_it_was_at_the_start(tmp_path, seed, high_keys):
    rng = random.Random(seed)
    instance = _instance(tmp_path, high_keys)
    session = instance.new_session()
    _fill(session, rng)
    expected = _state(instance)
    assert execute(session, [b"BGSAVE"]).text == b"Background saving started"
    assert b"rdb_bgsave_in_progress:1" in execute(session, [b"INFO", b"persistence"]).text
    assert execute(session, [b"SAVE"]).message == "ERR Background save already in progress"
    assert execute(session, [b"BGSAVE"]).message == "ERR Background save already in progress"
    slices = 0
    while step(instance, 0.0, chunk_bytes=64):
        slices += 1
        for _ in range(4):
            _random_write(session, rng)
    assert slices > 50
    assert _state(instance) != expected  # the writes did change the dataset
    assert _file_state(tmp_path) == expected
    info = execute(session, [b"INFO", b"persistence"]).text
    assert b"rdb_bgsave_in_progress:0" in info and b"rdb_last_bgsave_status:ok" in info
    assert not [p for p in os.listdir(tmp_path) if p.startswith("temp-")]


def test_flushdb_during_bgsave_keeps_the_start(tmp_path):
    """(FLUSHALL drops the save instead, as Redis: see below.)"""
    instance = _instance(tmp_path)
    session = instance.new_session()
    _fill(session, random.Random(3))
    expected = _state(instance)
    execute(session, [b"BGSAVE"])
    step(instance, 0.0)
    execute(session, [b"SELECT", b"1"])
    execute(session, [b"FLUSHDB"])
    step(instance, 0.0)
    execute(session, [b"SELECT", b"0"])
    execute(session, [b"FLUSHDB"])
    execute(session, [b"SET", b"after", b"1"])
    while step(instance, 0.0):
        pass
    assert _file_state(tmp_path) == expected


@pytest.mark.parametrize("flush_at", ["start", "mid-shards", "mid-step", "while-slicing"])
def test_flushdb_during_bgsave_writes_nothing_at_once_and_keeps_the_engines(tmp_path, flush_at):
    """FLUSHDB during a save costs the save nothing at once: the database's engines, detached
    whole, are kept unfreed while its part is written from them in later slices (big streams
    in slices too), then freed; keys written after the flush are not in the file."""
    instance = _instance(tmp_path, high_keys=16)
    session = instance.new_session()
    for i in range(600):
        execute(session, [b"SET", b"k%d" % i, b"v%d" % i])
    for i in range(1, 351):  # several stream nodes (100 entries each): written in slices
        execute(session, [b"XADD", b"big", b"%d-0" % i, b"n", b"%d" % i])
    db = instance.dbs[0]
    tandem = db.tandem
    if flush_at == "mid-step":
        i = 600
        while not tandem.migrating:
            execute(session, [b"SET", b"k%d" % i, b"v%d" % i])
            i += 1
    else:
        while not tandem.migrate_keys(10_000):
            pass
    expected_keys = {key for key, _value, _deadline in db.items()}
    execute(session, [b"BGSAVE"])
    job = instance.rdb.job
    if flush_at == "mid-shards":
        for _ in range(5):
            step(instance, 0.0)
    elif flush_at == "while-slicing":
        while job.slicing is None:
            assert step(instance, 0.0)
    processed, buffered = job.keys_processed, len(job.writer.w.buf)
    execute(session, [b"FLUSHDB"])
    assert (job.keys_processed, len(job.writer.w.buf)) == (processed, buffered)  # nothing at once
    assert db.detached
    execute(session, [b"SET", b"after", b"1"])
    execute(session, [b"XADD", b"big", b"1-0", b"n", b"new"])
    assert not db.free_detached(10**9) and db.detached  # kept while the save may read them
    while step(instance, 0.0):
        execute(session, [b"SET", b"after%d" % len(db), b"1"])
        tandem.migrate_keys(5)
    assert db.free_detached(10**9) or db.free_detached(10**9)
    assert not db.detached
    saved = list(read_file((tmp_path / "dump.rdb").read_bytes(), Limits()))
    keys = [k.key for k in saved]
    assert len(keys) == len(set(keys)) and set(keys) == expected_keys
    big = next(k.value for k in saved if k.key == b"big")
    assert len(big) == 350 and big.last_id == make_id(350, 0)


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


@pytest.mark.parametrize(("start_mid_step", "high_keys"), [(False, 16), (True, 16), (False, 64), (True, 64)])
def test_migration_steps_during_bgsave_neither_lose_nor_repeat_keys(tmp_path, start_mid_step, high_keys):
    """Keys moved between shards by a step (up or down) while the save runs: the file still
    holds each key of the start exactly once, as it was. With 64-key shards a step also moves
    keys out of a shard whose writing is under way (it is finished first)."""
    instance = _instance(tmp_path, high_keys=high_keys)
    session = instance.new_session()
    start_keys = 120 * high_keys // 16
    for i in range(start_keys):
        execute(session, [b"SET", b"k%d" % i, b"v%d" % i])
    tandem = instance.dbs[0].tandem
    while not tandem.migrate_keys(10_000):  # idle: one engine, spares built
        pass
    if start_mid_step:
        i = start_keys
        while not tandem.migrating:  # past the grow threshold: a step up starts
            execute(session, [b"SET", b"k%d" % i, b"v%d" % i])
            i += 1
        assert tandem.old is not None and tandem.old.key_count() > 100
    expected = _state(instance)
    migrated_before = tandem.stats.migrated_keys
    execute(session, [b"BGSAVE"])
    job = instance.rdb.job
    shards = job.pending[0].left
    rng = random.Random(5)
    i = 1000
    while step(instance, 0.0, chunk_bytes=256):
        for _ in range(6):
            i += 1
            execute(session, [b"SET", b"n%d" % i, b"new"])  # steps up
        execute(session, [b"SET", b"k%d" % rng.randrange(start_keys * 10 // 3), b"changed"])
        tandem.migrate_keys(7)
    assert tandem.stats.migrated_keys > migrated_before + 50  # keys moved while saving
    assert job.shards_written == shards > 4
    data = (tmp_path / "dump.rdb").read_bytes()
    keys = [(k.db, k.key) for k in read_file(data, Limits())]
    assert len(keys) == len(set(keys)) == len(expected)
    assert _file_state(tmp_path) == expected


def test_bgsave_deletes_during_a_step_down(tmp_path):
    instance = _instance(tmp_path, high_keys=16)
    session = instance.new_session()
    for i in range(600):
        execute(session, [b"SET", b"k%d" % i, b"v%d" % i])
    tandem = instance.dbs[0].tandem
    while not tandem.migrate_keys(1000):
        pass
    expected = _state(instance)
    execute(session, [b"BGSAVE"])
    i = 0
    while step(instance, 0.0, chunk_bytes=128):
        for _ in range(8):
            execute(session, [b"DEL", b"k%d" % i])
            i += 1
        tandem.migrate_keys(5)
    assert tandem.stats.steps_down > 0
    assert _file_state(tmp_path) == expected


def test_bgsave_keeps_no_index_of_keys_and_buffers_little(tmp_path):
    """The snapshot notes a flag per shard, not an entry per key; each slice hands at most
    `chunk_bytes` to the file, and bytes are buffered only as far as one shard's entries."""
    instance = _instance(tmp_path, high_keys=32)
    session = instance.new_session()
    for i in range(3000):
        execute(session, [b"SET", b"key:%d" % i, b"xxx"])
    tandem = instance.dbs[0].tandem
    while not tandem.migrate_keys(10_000):
        pass
    expected = _state(instance)
    shards = tandem.engine.shards
    execute(session, [b"BGSAVE"])
    job = instance.rdb.job
    assert len(job.pending) == 1 and job.pending[0].left == shards < 3000 // 16
    assert [len(flags) for _engine, flags in job.pending[0].flags.values()] == [shards]
    largest_shard = max(len(values) for values, _ in tandem.iter_pairs())
    most_buffered = 0
    slices = 0
    written = job.writer.written_bytes
    while step(instance, 0.0, chunk_bytes=1024):
        slices += 1
        assert job.writer.written_bytes - written <= 1024
        written = job.writer.written_bytes
        most_buffered = max(most_buffered, len(job.writer.w.buf))
    assert most_buffered <= 2 + largest_shard * len(b"\x00\x0akey:NNNNN\x03xxx")
    assert slices >= shards
    assert job.shards_written == shards
    assert _file_state(tmp_path) == expected


def test_a_change_writes_only_its_key_ahead_of_its_shard(tmp_path):
    """Copy-on-write costs a request one entry, not its shard: the key is written at once and
    passed over when its shard is written; a key created meanwhile is not in the file."""
    instance = _instance(tmp_path, high_keys=32)
    session = instance.new_session()
    for i in range(2000):
        execute(session, [b"SET", b"key:%d" % i, b"v"])
    while not instance.dbs[0].tandem.migrate_keys(10_000):
        pass
    expected = _state(instance)
    execute(session, [b"BGSAVE"])
    job = instance.rdb.job
    buffered = len(job.writer.w.buf)
    execute(session, [b"GET", b"key:7"])
    assert (job.keys_written_early, job.shards_written) == (1, 0)
    entry = b"\x00\x05key:7\x01v"  # string type, the key, the value: one entry, after SELECTDB
    assert job.writer.w.buf.endswith(entry) and len(job.writer.w.buf) - buffered <= len(entry) + 8
    execute(session, [b"SET", b"key:7", b"changed"])  # written already: nothing more
    execute(session, [b"SET", b"brand-new", b"v"])  # not in the snapshot: passed over
    assert (job.keys_written_early, job.shards_written) == (1, 0)
    assert job.pending[0].skip.keys() == {b"key:7", b"brand-new"}
    while step(instance, 1.0):
        pass
    assert job.pending == [] or not job.pending[0].skip.keys() - {b"brand-new"}
    assert _file_state(tmp_path) == expected


class _Thread:
    """SaveState.offload as the server's thread does it, run by hand: work in order."""

    def __init__(self) -> None:
        self.queue: list = []
        self.waited = 0

    def offload(self, work, done):
        item = [work, done, False]
        self.queue.append(item)

        def wait():
            self.waited += 1
            self.run(upto=item)

        return wait

    def run(self, upto=None, callbacks: bool = True) -> None:
        for item in list(self.queue):
            if not item[2]:
                item[0]()
                item[2] = True
                if callbacks:
                    item[1](None)
            if item is upto:
                return


def test_file_io_runs_where_the_server_says_in_order(tmp_path, monkeypatch):
    """With `offload` set (the server: a thread), the file's writes, then the fsync and the
    rename, are handed over in order; the loop never writes the file; the save stays in
    progress until the last callback; no more is serialized while too much waits."""
    monkeypatch.setattr(snapshot, "SINK_CHUNK_BYTES", 512)
    monkeypatch.setattr(snapshot, "SINK_MAX_IN_FLIGHT_BYTES", 2048)
    instance = _instance(tmp_path, high_keys=16)
    thread = _Thread()
    instance.rdb.offload = thread.offload
    session = instance.new_session()
    for i in range(500):
        execute(session, [b"SET", b"key:%d" % i, b"value:%d" % i])
    expected = _state(instance)
    execute(session, [b"BGSAVE"])
    job = instance.rdb.job
    temp = job.temp
    idle = 0
    size = os.path.getsize(temp)
    while step(instance, 1.0):
        assert os.path.getsize(temp) == size  # nothing written by the loop
        assert job.waiting == (job.sink.in_flight_bytes > 2048)  # waits for the disk, not its budget
        if job.sink.in_flight_bytes > 2048:
            idle += 1
            thread.run()  # the disk catches up
            size = os.path.getsize(temp)
    assert idle > 0
    assert instance.rdb.job is job and not (tmp_path / "dump.rdb").exists()
    assert execute(session, [b"BGSAVE"]).message == "ERR Background save already in progress"
    thread.run()
    assert instance.rdb.job is None and instance.rdb.last_status_ok
    assert _file_state(tmp_path) == expected


def test_shutdown_during_the_threads_fsync_waits_for_it(tmp_path):
    instance = _instance(tmp_path)
    thread = _Thread()
    instance.rdb.offload = thread.offload
    session = instance.new_session()
    execute(session, [b"SET", b"a", b"1"])
    execute(session, [b"BGSAVE"])
    while step(instance, 1.0):
        pass
    instance.rdb.job.abort()  # SHUTDOWN: waits for the writes and the file
    assert thread.waited == 1 and instance.rdb.job is None
    thread.queue[-1][1](None)  # the loop's callback, late: ignored
    assert instance.rdb.saves == 0
    assert _file_state(tmp_path) == {(0, b"a"): (b"1", None)}


def test_flushall_drops_a_background_save_and_saves_the_empty_dataset(tmp_path):
    """As Redis's flushAllDataAndResetRDB: a BGSAVE in progress is dropped (its temp file
    deleted, not an error), and with a save schedule the empty dataset is saved at once."""
    instance = _instance(tmp_path)
    session = instance.new_session()
    for i in range(3000):
        execute(session, [b"SET", b"k%d" % i, b"v"])
    assert execute(session, [b"BGSAVE"]).text == b"Background saving started"
    step(instance, 0.0001)
    assert instance.rdb.job is not None
    assert execute(session, [b"FLUSHALL"]) is OK
    assert instance.rdb.job is None and not os.listdir(tmp_path)
    assert b"rdb_last_bgsave_status:ok" in execute(session, [b"INFO", b"persistence"]).text
    execute(session, [b"CONFIG", b"SET", b"save", b"3600 1"])
    execute(session, [b"SET", b"k", b"v"])
    assert execute(session, [b"FLUSHALL"]) is OK
    assert list(read_file((tmp_path / "dump.rdb").read_bytes(), Limits())) == []


def test_rdb_key_save_delay_paces_a_background_save(tmp_path):
    """rdb-key-save-delay (microseconds a key): a save of 3,000 keys at a second a key writes
    its first shard and then waits, slice after slice, without sleeping; FLUSHALL drops it
    (Redis's integration/rdb "Test FLUSHALL aborts bgsave")."""
    instance = _instance(tmp_path)
    session = instance.new_session()
    for i in range(3000):
        execute(session, [b"SET", b"k%d" % i, b"v"])
    execute(session, [b"CONFIG", b"SET", b"rdb-key-save-delay", b"1000000"])
    execute(session, [b"BGSAVE"])
    job = instance.rdb.job
    for _ in range(50):
        assert step(instance, 0.001)
        assert job.waiting  # the server runs the next slice later, not in a busy loop
    assert 0 < job.keys_processed < 3000
    assert b"rdb_bgsave_in_progress:1" in execute(session, [b"INFO", b"persistence"]).text
    execute(session, [b"FLUSHALL"])
    assert instance.rdb.job is None and not os.listdir(tmp_path)


@pytest.mark.parametrize("mask", [0, 7, 4095, 32767])
def test_keyset_takes_exactly_a_shards_keys(mask):
    """KeySet (the keys a save passes over, in small sets): `take` finds every key of a shard
    whatever the engine's size against its own buckets, and nothing else."""
    rng = random.Random(mask)
    keys = [b"key:%d" % rng.randrange(10**9) for _ in range(3000)]
    skip = snapshot.KeySet()
    added = set(rng.sample(keys, 1500))
    for key in added:
        skip.add(key, shard_hash(key))
        skip.add(key, shard_hash(key))  # twice: counted once
    assert skip.count == len(added) and skip.keys() == added
    for index in {shard_hash(key) & mask for key in keys[:200]}:
        shard = {key for key in keys if shard_hash(key) & mask == index}
        taken = skip.take(shard, index, mask)
        assert taken == shard & added
        added -= taken
        assert skip.keys() == added and skip.count == len(added)
        assert not any(skip.has(key, shard_hash(key)) for key in taken)
