"""The list value (values/lists.py) against a Python list model, its byte accounting, big
lists freed in slices, and the waiting registry (commands/blocking.py) without sockets."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tandemkv.clock import ManualClock
from tandemkv.commands import Instance, Session, execute
from tandemkv.commands.blocking import BLOCKED
from tandemkv.config import Config
from tandemkv.keyspace.keyspace import LAZYFREE_MIN_ITEMS
from tandemkv.protocol import NULL_ARRAY, Error
from tandemkv.values import ListValue

# ------------------------------------------------------------------ the value

_ITEMS = st.binary(max_size=40)
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.lists(_ITEMS, max_size=4), st.booleans()),
        st.tuples(st.just("pop"), st.booleans()),
        st.tuples(st.just("pop_many"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("set"), st.integers(0, 30), _ITEMS),
        st.tuples(st.just("insert"), _ITEMS, _ITEMS, st.booleans()),
        st.tuples(st.just("range"), st.integers(0, 30), st.integers(0, 30)),
        st.tuples(st.just("trim"), st.integers(0, 30), st.integers(0, 30)),
        st.tuples(st.just("remove"), _ITEMS, st.integers(-3, 3)),
        st.tuples(st.just("positions"), _ITEMS, st.sampled_from([1, 2, -1, -3]), st.integers(0, 3), st.integers(0, 10)),
    ),
    max_size=60,
)


def _model_positions(model: list[bytes], item: bytes, rank: int, count: int, maxlen: int) -> list[int]:
    indexes = range(len(model)) if rank > 0 else range(len(model) - 1, -1, -1)
    if maxlen:
        indexes = list(indexes)[:maxlen]
    matches = [i for i in indexes if model[i] == item][abs(rank) - 1 :]
    return matches[:count] if count else matches


@settings(max_examples=300, deadline=None)
@given(_OPS)
def test_list_value_matches_a_python_list(ops: list[tuple[Any, ...]]) -> None:
    value, model = ListValue(), []
    for op in ops:
        name = op[0]
        if name == "push":
            value.push(op[1], op[2])
            for item in op[1]:
                model.insert(0 if op[2] else len(model), item)
        elif name == "pop" and model:
            assert value.pop(op[1]) == (model.pop(0) if op[1] else model.pop())
        elif name == "pop_many":
            n = min(op[1], len(model))
            expected = model[:n] if op[2] else model[::-1][:n]
            model[:] = model[n:] if op[2] else model[: len(model) - n]
            assert value.pop_many(op[1], op[2]) == expected
        elif name == "set" and op[1] < len(model):
            value.set(op[1], op[2])
            model[op[1]] = op[2]
        elif name == "insert":
            found = op[1] in model
            assert value.insert_at_pivot(op[1], op[2], op[3]) is found
            if found:
                model.insert(model.index(op[1]) + (1 if op[3] else 0), op[2])
        elif name == "range" and op[1] <= op[2] < len(model):
            assert value.range(op[1], op[2]) == model[op[1] : op[2] + 1]
        elif name == "trim":
            value.trim(op[1], op[2])
            model[:] = model[op[1] : op[2] + 1] if op[1] <= op[2] else []
        elif name == "remove":
            expected_removed = _model_remove(model, op[1], op[2])
            assert value.remove(op[1], op[2]) == expected_removed
        elif name == "positions":
            assert value.positions(*op[1:]) == _model_positions(model, *op[1:])
        assert list(value) == model
        assert value.nbytes == ListValue(model).nbytes  # kept up to date, never recomputed


def _model_remove(model: list[bytes], item: bytes, count: int) -> int:
    indexes = [i for i, x in enumerate(model) if x == item]
    if count < 0:
        indexes = indexes[::-1]
    chosen = set(indexes[: abs(count)] if count else indexes)
    model[:] = [x for i, x in enumerate(model) if i not in chosen]
    return len(chosen)


def test_copy_shares_nothing_mutable() -> None:
    original = ListValue([b"a", b"b"])
    clone = original.copy()
    clone.push([b"c"], left=False)
    assert list(original) == [b"a", b"b"] and list(clone) == [b"a", b"b", b"c"]
    assert clone.nbytes > original.nbytes


# ------------------------------------------------------------ via the keyspace


def make_instance(**settings: str) -> Instance:
    config = Config()
    for name, value in settings.items():
        config.set(name.replace("_", "-"), value.encode(), startup=True)
    return Instance(config, ManualClock())


def call(session: Session, *args: Any) -> Any:
    return execute(session, [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args])


def test_memory_is_charged_in_the_write_that_grows_a_list() -> None:
    session = make_instance().new_session()
    db = session.db
    call(session, "RPUSH", "l", "a")
    after_one = db.used_bytes
    call(session, "RPUSH", "l", "x" * 1000)
    grown = db.used_bytes - after_one
    assert grown == ListValue([b"x" * 1000]).nbytes - ListValue().nbytes
    call(session, "LPOP", "l")
    call(session, "RPOP", "l")
    assert call(session, "EXISTS", "l") == 0
    assert db.used_bytes == 0


def test_a_bound_refuses_list_growth_under_noeviction() -> None:
    session = make_instance(maxmemory="1mb").new_session()
    replies = [call(session, "RPUSH", "l", "x" * 1000) for _ in range(2000)]
    errors = [reply for reply in replies if isinstance(reply, Error)]
    assert errors and errors[0].message.startswith("OOM ")
    # Never over by more than one write: the accounted bytes stop just past the bound.
    assert session.instance.memory.used_bytes < 1024 * 1024 + 2000


def test_big_lists_are_freed_in_slices() -> None:
    session = make_instance().new_session()
    db = session.db
    items = LAZYFREE_MIN_ITEMS * 3
    for key in ("a", "b", "c"):
        call(session, "RPUSH", key, *[b"%d" % i for i in range(items)])
    call(session, "DEL", "a")  # deleted
    call(session, "SET", "b", "v")  # overwritten
    call(session, "FLUSHDB")  # flushed (its engine is detached, then freed shard by shard)
    assert db.has_garbage
    slices = 0
    while not db.free_detached(LAZYFREE_MIN_ITEMS):
        slices += 1
    assert slices >= 5 and not db.lazy_values and not db.detached


# ------------------------------------------------------------ blocking, no sockets


class Client:
    """A session whose woken replies are recorded (the server layer's `wake`)."""

    def __init__(self, instance: Instance) -> None:
        self.replies: list[Any] = []
        self.session = instance.new_session(wake=self.replies.append)

    def __call__(self, *args: Any) -> Any:
        return call(self.session, *args)


def test_waiters_are_served_in_order_after_the_command_that_readied_them() -> None:
    instance = make_instance()
    first, second, pusher = Client(instance), Client(instance), Client(instance)
    assert first("BLPOP", "q", 0) is BLOCKED
    assert second("BRPOP", "q", 0) is BLOCKED
    assert instance.blocking.clients == 2
    assert pusher("RPUSH", "q", "1", "2", "3") == 3  # the push's own reply: all three were there
    assert first.replies == [[b"q", b"1"]]
    assert second.replies == [[b"q", b"3"]]
    assert pusher("LRANGE", "q", 0, -1) == [b"2"]
    assert instance.blocking.clients == 0 and not instance.blocking.waiting


def test_time_out_and_disconnect_forget_the_waiter() -> None:
    instance = make_instance()
    waiting, gone = Client(instance), Client(instance)
    waiting("BLMOVE", "q", "d", "LEFT", "LEFT", 1)
    gone("BLPOP", "q", 0)
    waiter = waiting.session.blocked
    assert waiter is not None and waiter.deadline_ms == instance.clock.now_ms() + 1000
    instance.blocking.time_out(waiter)
    assert waiting.replies == [NULL_ARRAY]
    instance.drop_session(gone.session)
    assert not instance.blocking.waiting and instance.blocking.clients == 0
    pusher = Client(instance)
    pusher("RPUSH", "q", "x")
    assert gone.replies == [] and pusher("LLEN", "q") == 1


def test_sessions_that_may_not_block_answer_as_on_timeout() -> None:
    session = make_instance().new_session()  # no `wake`: the embedded Store's kind
    assert session.deny_blocking
    assert call(session, "BLPOP", "q", 0) is NULL_ARRAY
    assert call(session, "BLMOVE", "q", "d", "LEFT", "LEFT", 0) is None
    assert call(session, "BLMPOP", 0, 1, "q", "LEFT") is NULL_ARRAY


def test_swapdb_readies_the_keys_of_both_databases() -> None:
    instance = make_instance()
    waiting, other = Client(instance), Client(instance)
    waiting("BLPOP", "q", 0)
    other("SELECT", 1)
    other("RPUSH", "q", "from-db1")
    assert waiting.replies == []
    other("SWAPDB", 0, 1)
    assert waiting.replies == [[b"q", b"from-db1"]]
