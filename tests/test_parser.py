"""RequestParser: table-driven cases, each fed whole, in small pieces, and followed by trailing
bytes that must stay buffered; both with the hiredis fast path and with the pure-Python parser
alone. Expectations were checked against redis-server 7.0.15 (see tests/test_protocol_diff.py,
which replays most of these inputs against both servers).
"""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandemkv.protocol import parser as parser_module
from tandemkv.protocol.parser import INLINE_MAX_BYTES, RequestParser, split_args, string2ll


@dataclass(frozen=True)
class Case:
    id: str
    data: bytes
    commands: list[list[bytes]]
    error: str | None = None  # expected error message, None if the input is valid
    complete: bool = True  # the input ends at a request boundary (trailing bytes stay buffered)


def mb(*args: bytes) -> bytes:
    """The multibulk encoding of one command."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


PING = [b"PING"]
TOO_BIG = 70_000

CASES = [
    # ---- multibulk
    Case("mb-ping", mb(b"PING"), [PING]),
    Case("mb-args", mb(b"SET", b"k", b"v"), [[b"SET", b"k", b"v"]]),
    Case("mb-binary", mb(b"ECHO", b"a\r\n\0b\xff"), [[b"ECHO", b"a\r\n\0b\xff"]]),
    Case("mb-empty-arg", mb(b"ECHO", b""), [[b"ECHO", b""]]),
    Case("mb-unchecked-trailer", b"*1\r\n$4\r\nPINGxx" + mb(b"PING"), [PING, PING]),
    Case("mb-cr-then-any-byte", b"*1\rX$4\rYPING\r\n", [PING]),
    Case("mb-big-arg", mb(b"SET", b"k", b"v" * 100_000), [[b"SET", b"k", b"v" * 100_000]]),
    Case("mb-count-zero", b"*0\r\n" + mb(b"PING"), [PING]),
    Case("mb-count-minus-one", b"*-1\r\n" + mb(b"PING"), [PING]),
    Case("mb-count-negative", b"*-5\r\n*-1\r\n*0\r\n", []),
    Case("mb-count-int-max", b"*2147483647\r\n$1\r\na\r\n", [], complete=False),
    Case("mb-nul-hides-count-end", b"*1\0\r\n", [], complete=False),
    Case("mb-nul-hides-bulk-end", b"*1\r\n$4\0\r\nPING\r\n", [], complete=False),
    Case("mb-pending-bulk", b"*2\r\n$4\r\nECHO\r\n$10\r\nabc", [], complete=False),
    Case("mb-lone-cr", b"*1\r", [], complete=False),
    # hiredis reads these RESP3 types as strings or lists; Redis does not.
    Case("mb-status-element", b"*1\r\n+PING\r\n", [], "Protocol error: expected '$', got '+'"),
    Case("mb-verbatim-element", b"*1\r\n=8\r\ntxt:PING\r\n", [], "Protocol error: expected '$', got '='"),
    Case("mb-bignum-element", b"*1\r\n(12\r\n", [], "Protocol error: expected '$', got '('"),
    Case("mb-int-element", b"*1\r\n:1\r\n", [], "Protocol error: expected '$', got ':'"),
    Case("mb-null-element", b"*1\r\n$-1\r\n", [], "Protocol error: invalid bulk length"),
    Case("mb-nested", b"*1\r\n*1\r\n$4\r\nPING\r\n", [], "Protocol error: expected '$', got '*'"),
    Case("mb-then-status-element", mb(b"PING") + b"*2\r\n$4\r\nECHO\r\n+x\r\n", [PING], "Protocol error: expected '$', got '+'"),
    Case("top-level-set", mb(b"PING") + b"~1\r\n$4\r\nPING\r\n", [PING, [b"~1"], [b"$4"], PING]),
    Case("top-level-attribute", mb(b"PING") + b"|1\r\n$1\r\na\r\n", [PING, [b"|1"], [b"$1"], [b"a"]]),
    Case("top-level-push", mb(b"PING") + b">1\r\n$4\r\nPING\r\n", [PING, [b">1"], [b"$4"], PING]),
    Case("top-level-false", mb(b"PING") + b"#f\r\n", [PING, [b"#f"]]),
    Case("top-level-null", mb(b"PING") + b"_\r\n,1.5\r\n!3\r\nerr\r\n", [PING, [b"_"], [b",1.5"], [b"!3"], [b"err"]]),
    Case("top-level-map", mb(b"PING") + b"%1\r\n$1\r\na\r\n", [PING, [b"%1"], [b"$1"], [b"a"]]),
    # ---- multibulk errors
    Case("mb-count-not-digit", b"*x\r\n", [], "Protocol error: invalid multibulk length"),
    Case("mb-count-empty", b"*\r\n", [], "Protocol error: invalid multibulk length"),
    Case("mb-count-leading-zero", b"*01\r\n", [], "Protocol error: invalid multibulk length"),
    Case("mb-count-plus", b"*+1\r\n", [], "Protocol error: invalid multibulk length"),
    Case("mb-count-minus-zero", b"*-0\r\n", [], "Protocol error: invalid multibulk length"),
    Case("mb-count-space", b"* 1\r\n", [], "Protocol error: invalid multibulk length"),
    Case("mb-count-over-int-max", b"*2147483648\r\n", [], "Protocol error: invalid multibulk length"),
    Case("mb-count-over-int64", b"*99999999999999999999\r\n", [], "Protocol error: invalid multibulk length"),
    Case("mb-count-lf-only", b"*1\n$4\r\nPING\r\n", [], "Protocol error: invalid multibulk length"),
    Case("bulk-len-negative", b"*1\r\n$-2\r\n", [], "Protocol error: invalid bulk length"),
    Case("bulk-len-not-digit", b"*1\r\n$x\r\n", [], "Protocol error: invalid bulk length"),
    Case("bulk-len-leading-zero", b"*1\r\n$04\r\nPING\r\n", [], "Protocol error: invalid bulk length"),
    Case("bulk-len-over-max", b"*1\r\n$536870913\r\n", [], "Protocol error: invalid bulk length"),
    Case("bulk-len-max", b"*1\r\n$536870912\r\n", [], complete=False),
    Case("expected-dollar", b"*1\r\nPING\r\n", [], "Protocol error: expected '$', got 'P'"),
    Case("expected-dollar-cr", b"*1\r\n\r\n", [], "Protocol error: expected '$', got '\r'"),
    Case("expected-dollar-high-byte", b"*1\r\n\xff4\r\n", [], "Protocol error: expected '$', got '\xff'"),
    Case("expected-dollar-waits-for-line", b"*1\r\nPING", [], complete=False),
    Case("too-big-mbulk-count", b"*" + b"1" * TOO_BIG, [], "Protocol error: too big mbulk count string"),
    Case("mbulk-count-at-limit", b"*" + b"1" * (INLINE_MAX_BYTES - 1), [], complete=False),
    Case("too-big-bulk-count", b"*1\r\n$" + b"1" * TOO_BIG, [], "Protocol error: too big bulk count string"),
    Case("bulk-count-at-limit", b"*1\r\n$" + b"1" * (INLINE_MAX_BYTES - 1), [], complete=False),
    Case("too-big-after-nul", b"*1\0" + b"\r\n" * TOO_BIG, [], "Protocol error: too big mbulk count string"),
    # ---- inline
    Case("inline-crlf", b"PING\r\n", [PING]),
    Case("inline-lf", b"PING\n", [PING]),
    Case("inline-words", b"SET  k \t v\r\n", [[b"SET", b"k", b"v"]]),
    Case("inline-empty-lines", b"\r\n\n   \r\n\t\n" + b"PING\r\n", [PING]),
    Case("inline-vt-ff", b"ECHO a\vb \vc\f\r\n", [[b"ECHO", b"a\vb", b"c\f"]]),
    Case("inline-double-quotes", b'SET "a b" "c"\r\n', [[b"SET", b"a b", b"c"]]),
    Case("inline-escapes", b'ECHO "\\x41\\x6a\\n\\r\\t\\b\\a\\z\\\\\\""\r\n', [[b"ECHO", b'Aj\n\r\t\b\az\\"']]),
    Case("inline-bad-hex", b'ECHO "\\x4g" "\\xZZ"\r\n', [[b"ECHO", b"x4g", b"xZZ"]]),
    Case("inline-single-quotes", b"ECHO 'a\\'b' 'c\\nd' 'e\"f'\r\n", [[b"ECHO", b"a'b", b"c\\nd", b'e"f']]),
    Case("inline-empty-quotes", b"ECHO \"\" ''\r\n", [[b"ECHO", b"", b""]]),
    Case("inline-quote-mid-word", b'ECHO ab"c d"\r\n', [[b"ECHO", b"abc d"]]),
    Case("inline-quote-then-vt", b'ECHO "a"\v\r\n', [[b"ECHO", b"a"]]),
    Case("inline-high-bytes", b"ECHO \xff\x80\r\n", [[b"ECHO", b"\xff\x80"]]),
    Case("inline-nul-hides-lf", b"PING\0\r\n", [], complete=False),
    Case("inline-pending", b"PIN", [], complete=False),
    Case("inline-at-limit", b"A" * INLINE_MAX_BYTES, [], complete=False),
    Case("inline-too-big", b"A" * (INLINE_MAX_BYTES + 1), [], "Protocol error: too big inline request"),
    Case("inline-too-big-after-nul", b"PING\0" + b"A" * INLINE_MAX_BYTES, [], "Protocol error: too big inline request"),
    Case("inline-unbalanced-double", b'ECHO "abc\r\n', [], "Protocol error: unbalanced quotes in request"),
    Case("inline-unbalanced-single", b"ECHO 'abc\r\n", [], "Protocol error: unbalanced quotes in request"),
    Case("inline-escaped-closing-quote", b'ECHO "a\\"\r\n', [], "Protocol error: unbalanced quotes in request"),
    Case("inline-text-after-quote", b'ECHO "a"b\r\n', [], "Protocol error: unbalanced quotes in request"),
    # ---- pipelines and errors after commands
    Case("pipeline-mixed", mb(b"PING") + b"ECHO x\r\n" + mb(b"GET", b"no-such-key") + b"\r\nPING\n", [PING, [b"ECHO", b"x"], [b"GET", b"no-such-key"], PING]),
    Case("pipeline-then-error", mb(b"PING") + b"PING\r\n*x\r\n" + mb(b"PING"), [PING, PING], "Protocol error: invalid multibulk length"),
    Case("pipeline-then-unbalanced", b"PING\r\n" + mb(b"PING") + b'"\r\n', [PING, PING], "Protocol error: unbalanced quotes in request"),
    Case("pipeline-then-too-big", mb(b"PING") + b"A" * TOO_BIG, [PING], "Protocol error: too big inline request"),
]

TRAILING = b"*2\r\n$4\r\nECHO\r\n$3\r\nab"  # an unfinished command; completed by b"c\r\n"


def feed_whole(parser: RequestParser, data: bytes) -> list[list[bytes]]:
    return parser.parse(data)


def feed_pieces(parser: RequestParser, data: bytes) -> list[list[bytes]]:
    """One byte at a time (large inputs: in pieces of a few hundred bytes, to stay fast)."""
    step = 1 if len(data) < 4096 else 997
    commands = []
    for i in range(0, len(data), step):
        commands += parser.parse(data[i : i + step])
    return commands


@pytest.fixture(params=[True, False], ids=["hiredis", "python"])
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    monkeypatch.setattr(parser_module, "FAST_PATH", request.param and parser_module.FAST_PATH)
    yield request.param


def error_of(parser: RequestParser) -> str | None:
    return None if parser.error is None else parser.error.message


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("feed", [feed_whole, feed_pieces], ids=["whole", "pieces"])
def test_case(case: Case, feed, fast_path: bool) -> None:
    parser = RequestParser()
    assert feed(parser, case.data) == case.commands
    assert error_of(parser) == case.error
    if case.error is not None:
        assert parser.error is not None and parser.error.reply
        assert parser.pending_bytes == 0
        assert parser.parse(mb(b"PING")) == []  # nothing is parsed after an error
        assert error_of(parser) == case.error


@pytest.mark.parametrize("case", [c for c in CASES if c.error is None and c.complete], ids=lambda c: c.id)
def test_case_with_trailing_bytes(case: Case, fast_path: bool) -> None:
    parser = RequestParser()
    assert parser.parse(case.data + TRAILING) == case.commands
    assert parser.error is None
    assert parser.parse(b"c") == []
    assert parser.parse(b"\r\n") == [[b"ECHO", b"abc"]]
    assert parser.pending_bytes == 0


def test_hiredis_fast_path_is_available() -> None:
    # The fast path depends on hiredis's reader layout; a hiredis upgrade that changes it
    # silently costs most of the parsing speed, so it must fail here instead.
    assert parser_module.FAST_PATH


def test_huge_count_does_not_allocate() -> None:
    """hiredis would allocate a 2**31-slot list (and take seconds to free it)."""
    tracemalloc.start()
    try:
        assert RequestParser().parse(b"*2147483647\r\n$1\r\na\r\n") == []
        assert RequestParser().parse(mb(b"PING") + b"*2147483647\r\n") == [PING]
        assert RequestParser().parse(mb(b"PING") + b"~4294967295\r\n") == [PING, [b"~4294967295"]]
        parser = RequestParser()
        assert parser.parse(mb(b"PING") + b"*1\r\n*2147483647\r\n:1\r\n") == [PING]
        assert error_of(parser) == "Protocol error: expected '$', got '*'"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024**2


def test_idle_parser_keeps_no_big_buffer() -> None:
    """hiredis keeps the allocation of its buffer until the next read; after a big read the
    reader is dropped, so idle connections do not pin their last pipeline."""
    parser = RequestParser()
    assert parser.parse(mb(b"PING") * 2000) == [PING] * 2000
    assert parser._reader is None
    assert parser.parse(mb(b"PING")) == [PING]
    assert parser._reader is not None  # small reads keep theirs: creating one costs a little
    assert parser.pending_bytes == 0


def test_bulk_length_limit_is_configurable(fast_path: bool) -> None:
    parser = RequestParser(max_bulk_len=10)
    assert parser.parse(mb(b"SET", b"k", b"0123456789")) == [[b"SET", b"k", b"0123456789"]]
    assert parser.parse(mb(b"SET", b"k", b"0123456789x")) == []
    assert error_of(parser) == "Protocol error: invalid bulk length"


@pytest.mark.parametrize("step", [1, 100])
def test_query_buffer_limit_closes_without_reply(step: int, fast_path: bool) -> None:
    parser = RequestParser(max_query_len=1000)
    data = mb(b"PING") + b"*1\r\n$2000\r\n" + b"x" * 1500
    commands = []
    for i in range(0, len(data), step):
        commands += parser.parse(data[i : i + step])
    assert commands == [PING]
    assert error_of(parser) == "Closing client that reached max query buffer length"
    assert parser.error is not None and not parser.error.reply
    assert parser.pending_bytes == 0


def test_query_buffer_counts_only_unparsed_bytes(fast_path: bool) -> None:
    """Finished arguments leave the buffer: a command larger than the limit made of small
    arguments is accepted, as in Redis."""
    parser = RequestParser(max_query_len=1000)
    command = [b"DEL", *(b"key:%d" % i for i in range(500))]
    data = mb(*command)
    commands = []
    for i in range(0, len(data), 300):
        commands += parser.parse(data[i : i + 300])
    assert commands == [command]
    assert parser.error is None


def test_big_bulk_in_pieces_is_buffered_once(fast_path: bool) -> None:
    parser = RequestParser()
    value = bytes(range(256)) * 4096  # 1 MB
    data = mb(b"SET", b"k", value)
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    for chunk in chunks[:-1]:
        assert parser.parse(chunk) == []
        assert parser.pending_bytes <= len(value) + 2  # the header and SET/k left the buffer
    assert parser.parse(chunks[-1]) == [[b"SET", b"k", value]]
    assert parser.pending_bytes == 0


def test_partial_command_then_fast_path_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a command split across reads completes, the rest of the read goes to hiredis."""
    seen: list[bytes] = []
    original = RequestParser._parse_fast

    def spy(self: RequestParser, data: bytes) -> list[list[bytes]]:
        seen.append(data)
        return original(self, data)

    monkeypatch.setattr(RequestParser, "_parse_fast", spy)
    parser = RequestParser()
    first, second = mb(b"GET", b"a"), mb(b"GET", b"b") * 3
    assert parser.parse(first[:9]) == []
    assert parser.parse(first[9:] + second) == [[b"GET", b"a"]] + [[b"GET", b"b"]] * 3
    assert seen == [first[:9], second]


# ------------------------------------------------------------------ property tests

WORD = st.binary(min_size=0, max_size=30)
COMMAND = st.lists(WORD, min_size=1, max_size=6)
SAFE_WORD = st.text(alphabet="abcXYZ019:_-.", min_size=1, max_size=12).map(str.encode)


def encode_inline(command: list[bytes], quoted: bool) -> bytes:
    if quoted:
        words = [b'"' + b"".join(b"\\x%02x" % byte for byte in arg) + b'"' for arg in command]
    else:
        words = command
    return b" ".join(words) + b"\r\n"


@st.composite
def request_stream(draw: st.DrawFn) -> tuple[bytes, list[list[bytes]]]:
    """A pipeline of valid requests (multibulk, quoted inline, plain inline) and its commands."""
    parts: list[bytes] = []
    expected: list[list[bytes]] = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["multibulk", "multibulk", "quoted", "plain", "empty"]))
        if kind == "multibulk":
            command = draw(COMMAND)
            parts.append(mb(*command))
        elif kind == "quoted":
            command = draw(COMMAND)
            parts.append(encode_inline(command, quoted=True))
        elif kind == "plain":
            command = draw(st.lists(SAFE_WORD, min_size=1, max_size=5))
            parts.append(encode_inline(command, quoted=False))
        else:
            parts.append(draw(st.sampled_from([b"*0\r\n", b"*-1\r\n", b"\r\n", b"  \n"])))
            continue
        expected.append(command)
    return b"".join(parts), expected


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return [p for p in pieces if p]


def parse_pieces(pieces: list[bytes], fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[list[bytes]], str | None, int]:
    monkeypatch.setattr(parser_module, "FAST_PATH", fast and parser_module.FAST_PATH)
    parser = RequestParser()
    commands = []
    for piece in pieces:
        commands += parser.parse(piece)
    return commands, error_of(parser), parser.pending_bytes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=request_stream(), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_valid_pipelines_split_anywhere(stream: tuple[bytes, list[list[bytes]]], cuts: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    data, expected = stream
    for fast in (True, False):
        assert parse_pieces(split_at(data, cuts), fast, monkeypatch) == (expected, None, 0)


PROTOCOL_BYTES = st.sampled_from([b"*", b"$", b"\r", b"\n", b"\r\n", b"\0", b"1", b"2", b"0", b"-", b"+", b":",
                                  b"=", b"(", b"~", b"|", b">", b"%", b"#f", b"#t", b"_", b",", b"!", b'"', b"'", b"\\", b"x", b" ", b"\\x41",
                                  b"PING", b"*1\r\n", b"*2\r\n", b"$4\r\n", b"$1\r\n", b"*-1\r\n", b"$-1\r\n",
                                  b"*2147483647\r\n"])
FUZZ_INPUT = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(PROTOCOL_BYTES, st.binary(max_size=4)), max_size=60).map(b"".join),
    st.lists(st.one_of(COMMAND.map(lambda c: mb(*c)), PROTOCOL_BYTES), max_size=12).map(b"".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=FUZZ_INPUT, cuts=st.lists(st.integers(0, 400), max_size=6))
def test_fuzz_any_bytes(data: bytes, cuts: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Never an exception, never more buffered than received, and the same result however the
    input is split and whichever path parses it."""
    whole = parse_pieces([data], False, monkeypatch)
    commands, error, pending = whole
    assert pending <= len(data)
    assert error is None or error.startswith("Protocol error: ")
    for fast in (True, False):
        assert parse_pieces([data], fast, monkeypatch) == whole
        assert parse_pieces(split_at(data, cuts), fast, monkeypatch)[:2] == (commands, error)


def test_fuzz_random_inputs_fast_equals_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 seeded random inputs, biased towards protocol bytes, both paths, split at random."""
    rng = random.Random(20240607)
    alphabet = [b"*", b"$", b"\r\n", b"\r", b"\n", b"\0", b"1", b"3", b"-", b"+", b"=", b"(", b"~", b"|", b"#f", b"_",
                b"\"", b"'", b"\\", b" ", b"PING", b"ECHO", b"*1\r\n$4\r\nPING\r\n", b"x" * 40]
    for _ in range(200):
        data = b"".join(rng.choice(alphabet) if rng.random() < 0.8 else rng.randbytes(3) for _ in range(rng.randint(1, 80)))
        cuts = [rng.randint(0, len(data)) for _ in range(rng.randint(0, 5))]
        whole = parse_pieces([data], False, monkeypatch)
        assert parse_pieces([data], True, monkeypatch) == whole
        assert parse_pieces(split_at(data, cuts), True, monkeypatch)[:2] == whole[:2]


# ------------------------------------------------------------------ split_args / string2ll

@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"", []),
        (b"  \t\v\f ", []),
        (b"a b", [b"a", b"b"]),
        (b"a\x00b c", [b"a"]),  # read as a C string
        (b'"a\\x4', None),
        (b'"\\x41\\x4"', [b"Ax4"]),
        (b'"a"\t"b"', [b"a", b"b"]),
        (b"'a''b'", None),
        (b"'a\\x41'", [b"a\\x41"]),
        (b"\"a\\\\\"", [b"a\\"]),
        (b'"trailing\\', None),
    ],
)
def test_split_args(line: bytes, words: list[bytes] | None) -> None:
    assert split_args(line) == words


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"0", 0), (b"-1", -1), (b"123", 123), (b"9223372036854775807", 2**63 - 1),
        (b"-9223372036854775808", -(2**63)), (b"9223372036854775808", None),
        (b"-9223372036854775809", None), (b"", None), (b"-", None), (b"-0", None),
        (b"00", None), (b"01", None), (b"+1", None), (b" 1", None), (b"1 ", None),
        (b"1.0", None), (b"\xd9\xa1", None), (b"1" * 21, None),
    ],
)
def test_string2ll(raw: bytes, value: int | None) -> None:
    assert string2ll(raw) == value
