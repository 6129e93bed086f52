"""values/hll.py on its own: the register packing, the lane arithmetic, the sparse edits
that no element stream reaches in practice (a run above 32), and the estimator's edges.
Everything observable is compared with redis-server in test_hll_diff.py."""

from __future__ import annotations

import random

from tandemkv.values import hll


def test_pack_and_unpack_are_inverse_and_match_single_register_access():
    rng = random.Random(1)
    raw = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
    packed = bytearray(hll.MAGIC + bytes(12)) + hll.pack_dense(raw)
    assert len(packed) == hll.DENSE_BYTES
    assert bytes(hll.unpack_dense(memoryview(packed)[hll.HEADER_BYTES :])) == raw
    single = bytearray(hll.DENSE_BYTES)
    for index, register in enumerate(raw):
        hll.dense_set(single, index, register)
    assert single[hll.HEADER_BYTES :] == packed[hll.HEADER_BYTES :]
    assert all(hll.dense_get(packed, i) == raw[i] for i in range(0, hll.REGISTERS, 97))
    assert hll.dense_get(packed, hll.REGISTERS - 1) == raw[-1]


def test_dense_set_only_raises():
    value = bytearray(hll.DENSE_BYTES)
    assert hll.dense_set(value, 5, 7)
    assert not hll.dense_set(value, 5, 7)
    assert not hll.dense_set(value, 5, 3)
    assert hll.dense_get(value, 5) == 7
    assert hll.dense_get(value, 4) == hll.dense_get(value, 6) == 0


def test_max_registers():
    rng = random.Random(2)
    a = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
    b = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
    assert hll.max_registers(a, b) == bytes(map(max, a, b))


def test_histogram_and_empty_estimate():
    assert hll.estimate(hll.histogram(bytes(hll.REGISTERS))) == 0
    counts = hll.histogram(bytes([1, 2]) * (hll.REGISTERS // 2))
    assert counts[1] == counts[2] == hll.REGISTERS // 2
    assert sum(counts) == hll.REGISTERS


def test_a_run_above_32_promotes_a_sparse_hll():
    edit = hll.HllEdit(hll.EMPTY)
    assert edit.set_register(100, 5, 3000) == 1
    assert edit.dense is None
    assert edit.set_register(200, 33, 3000) == 1
    assert edit.dense is not None
    value = edit.to_bytes()
    assert len(value) == hll.DENSE_BYTES and value[4] == hll.DENSE
    registers = hll.registers(value)
    assert registers[100] == 5 and registers[200] == 33
    assert sum(1 for r in registers if r) == 2


def test_sparse_edits_split_and_merge_opcodes():
    edit = hll.HllEdit(hll.EMPTY)
    for index in (10, 11, 12):
        edit.set_register(index, 3, 3000)
    assert hll.describe_sparse(edit.to_bytes()) == b"z:10 v:3,3 Z:16371"
    edit.set_register(11, 4, 3000)
    assert hll.describe_sparse(edit.to_bytes()) == b"z:10 v:3,1 v:4,1 v:3,1 Z:16371"
    assert edit.set_register(11, 2, 3000) == 0


def test_murmurhash64a_lanes_agree_with_the_scalar_hash():
    dense = hll.HllEdit(hll.MAGIC + bytes(12) + bytes(hll.DENSE_REGISTER_BYTES))
    expected = bytearray(hll.MAGIC + bytes(12) + bytes(hll.DENSE_REGISTER_BYTES))
    seed = 0x1234_5678_9ABC_DEF0
    sparse = hll.HllEdit(hll.EMPTY)
    hll._add_numbers(dense, sparse, seed, 1, 3001, 3000)
    for j in range(1, 3001):
        index, count = hll.pattern((j ^ seed).to_bytes(8, "little"))
        hll.dense_set(expected, index, count)
    assert dense.to_bytes() == bytes(expected)
    assert hll.registers(sparse.to_bytes()) == hll.registers(bytes(expected))
