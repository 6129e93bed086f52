"""Configuration: one table of parameters, Redis-style values, runtime changes with observers.

Rules:
- Every parameter listed here is honoured by the server; CONFIG GET/SET see exactly this table.
- Values are parsed the way redis-server parses them (memory units, yes/no, enums).
- Observers registered with `watch` run after a successful CONFIG SET of their parameter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tandemkv.glob import compile_glob

# Redis's "verbose" log level, between DEBUG and INFO (loglevel verbose).
VERBOSE = 15
logging.addLevelName(VERBOSE, "VERBOSE")


class ConfigError(Exception):
    """A value could not be applied; `reason` is Redis's wording after the parameter name.

    `name` is the parameter Redis names in its CONFIG SET error (set by `Config.set_many`).
    """

    def __init__(self, reason: str, name: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.name = name


class UnknownParameter(Exception):
    """CONFIG SET named a parameter that does not exist; `name` as the client gave it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


_MEMORY_UNITS = {
    b"": 1,
    b"b": 1,
    b"k": 1000,
    b"kb": 1024,
    b"m": 1000**2,
    b"mb": 1024**2,
    b"g": 1000**3,
    b"gb": 1024**3,
}


def parse_memory(raw: bytes) -> int:
    """Redis's memtoull: digits followed by an optional unit (k, kb, m, mb, g, gb), any case."""
    text = raw.lower()
    digits = text.rstrip(b"bkmg")
    unit = text[len(digits) :]
    if not digits or not digits.isdigit() or unit not in _MEMORY_UNITS:
        raise ConfigError("argument must be a memory value")
    return int(digits) * _MEMORY_UNITS[unit]


def format_memory(value: int) -> bytes:
    return str(value).encode()


_STRICT_INT = re.compile(rb"-?[1-9][0-9]*|0")


@dataclass(slots=True)
class Param:
    """One parameter: its kind, default, bounds, and how CONFIG SET/GET read and show it.

    `clamp`: values inside the bounds but outside `clamp` are silently brought into it (hz).
    `normalize`: for string kinds, validates the new text and returns what CONFIG GET shows;
    it receives the current value too, for parameters that merge (client-output-buffer-limit).
    """

    name: str
    kind: str  # int | memory | bool | enum | string
    default: object
    mutable: bool = True
    minimum: int = 0
    maximum: int = 2**63 - 1
    choices: tuple[str, ...] = ()
    normalize: Callable[[bytes, str], str] | None = None
    clamp: tuple[int, int] | None = None
    alias: str = ""  # the name before Redis 7.0 (list-max-ziplist-size ...), accepted everywhere
    show: Callable[[str], str] | None = None  # how CONFIG GET prints a value, if not as stored

    def parse(self, raw: bytes, current: object = None) -> object:
        """The typed value of `raw`; raises ConfigError with Redis's reason."""
        if self.kind == "int":
            if _STRICT_INT.fullmatch(raw) is None:
                raise ConfigError("argument couldn't be parsed into an integer")
            value = int(raw)
            if not self.minimum <= value <= self.maximum:
                raise ConfigError(
                    f"argument must be between {self.minimum} and {self.maximum} inclusive"
                )
            if self.clamp is not None:
                value = min(max(value, self.clamp[0]), self.clamp[1])
            return value
        if self.kind == "memory":
            value = parse_memory(raw)
            if not self.minimum <= value <= self.maximum:
                raise ConfigError(
                    f"argument must be between {self.minimum} and {self.maximum} inclusive"
                )
            return value
        if self.kind == "bool":
            lowered = raw.lower()
            if lowered not in (b"yes", b"no"):
                raise ConfigError("argument must be 'yes' or 'no'")
            return lowered == b"yes"
        if self.kind == "enum":
            lowered = raw.lower().decode("latin-1")
            if lowered not in self.choices:
                raise ConfigError(f"argument(s) must be one of the following: {', '.join(self.choices)}")
            return lowered
        if self.normalize is not None:
            return self.normalize(raw, str(current if current is not None else self.default))
        return raw.decode("latin-1")

    def format(self, value: object) -> bytes:
        if self.kind == "bool":
            return b"yes" if value else b"no"
        text = str(value)
        return (self.show(text) if self.show is not None else text).encode("latin-1")


# notify-keyspace-events letters in the order Redis 7.0 prints them (keyspaceEventsFlagsToString);
# 'A' stands for all the class letters before 'm'.
_NOTIFY_ALL = "g$lshzxetd"
_NOTIFY_LETTERS = set(_NOTIFY_ALL + "mnKEA")


def _normalize_notify_flags(raw: bytes, current: str) -> str:
    text = raw.decode("latin-1")
    if any(ch not in _NOTIFY_LETTERS for ch in text):
        raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    letters = set(text.replace("A", _NOTIFY_ALL))
    # 'm' comes after K and E. With 'A', Redis keeps the n class but does not print it ("An"
    # reads back "A"): it is stored here ("An") and hidden by _show_notify_flags.
    if set(_NOTIFY_ALL) <= letters:
        out = "A" + ("n" if "n" in letters else "")
    else:
        out = "".join(ch for ch in _NOTIFY_ALL + "n" if ch in letters)
    return out + "".join(ch for ch in "KEm" if ch in letters)


def _show_notify_flags(value: str) -> str:
    return value.replace("n", "") if value.startswith("A") else value


_OUTPUT_CLASSES = {b"normal": "normal", b"replica": "slave", b"slave": "slave", b"pubsub": "pubsub"}


def _normalize_output_limits(raw: bytes, current: str) -> str:
    """Redis merges the classes given into the current limits and prints all three, in bytes."""
    parts = raw.split()
    if len(parts) % 4 != 0:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    words = current.split()
    limits = {words[i]: words[i + 1 : i + 4] for i in range(0, len(words), 4)}
    for i in range(0, len(parts), 4):
        name = _OUTPUT_CLASSES.get(parts[i].lower())
        if name is None:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        try:
            hard, soft = parse_memory(parts[i + 1]), parse_memory(parts[i + 2])
            if _STRICT_INT.fullmatch(parts[i + 3]) is None or int(parts[i + 3]) < 0:
                raise ValueError
        except (ConfigError, ValueError):
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.") from None
        limits[name] = [str(hard), str(soft), str(int(parts[i + 3]))]
    return " ".join(f"{name} {' '.join(limits[name])}" for name in ("normal", "slave", "pubsub"))


def _normalize_save(raw: bytes, current: str) -> str:
    """Redis's save points, "<seconds> <changes> ...": an even number of non-negative
    integers (setConfigSaveOption); "" turns snapshots off."""
    words = raw.split()
    if len(words) % 2 or any(_STRICT_INT.fullmatch(word) is None or word.startswith(b"-") for word in words):
        raise ConfigError("Invalid save parameters")
    return " ".join(str(int(word)) for word in words)


def save_points(text: str) -> list[tuple[int, int]]:
    """The (seconds, changes) pairs of a normalized `save` value."""
    numbers = [int(word) for word in text.split()]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def _normalize_dbfilename(raw: bytes, current: str) -> str:
    text = raw.decode("latin-1")
    if "/" in text:
        raise ConfigError("dbfilename can't be a path, just a filename")
    return text


def _normalize_appendfilename(raw: bytes, current: str) -> str:
    text = raw.decode("latin-1")
    if "/" in text:
        raise ConfigError("appendfilename can't be a path, just a filename")
    return text


def _normalize_appenddirname(raw: bytes, current: str) -> str:
    text = raw.decode("latin-1")
    if "/" in text:
        raise ConfigError("appenddirname can't be a path, just a dirname")
    return text


MAXMEMORY_POLICIES = (
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
)

_DECIMAL = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf(?:inity)?", re.IGNORECASE)


def _percentiles(raw: bytes) -> str:
    """latency-tracking-info-percentiles: numbers in [0, 100], shown as Redis shows them."""
    shown = []
    for word in raw.split():
        if _DECIMAL.fullmatch(word) is None:
            raise ConfigError("Invalid latency-tracking-info-percentiles parameters")
        value = float(word)
        if not 0.0 <= value <= 100.0:
            raise ConfigError("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")
        shown.append(f"{value:f}".rstrip("0").rstrip("."))
    return " ".join(shown)


def _no_ciphersuites(raw: bytes) -> str:
    """tls-ciphersuites: Python's ssl module has no way to choose TLSv1.3 suites, so any value
    but the default is refused rather than silently ignored."""
    if raw:
        raise ConfigError("TLSv1.3 cipher suites cannot be chosen in this server (Python's ssl module)")
    return ""


PARAMS: tuple[Param, ...] = (
    Param("bind", "string", "127.0.0.1", mutable=False),
    Param("port", "int", 6379, mutable=False, maximum=65535),
    Param("tls-port", "int", 0, mutable=False, maximum=65535),
    Param("tls-cert-file", "string", ""),
    Param("tls-key-file", "string", ""),
    Param("tls-key-file-pass", "string", ""),
    Param("tls-ca-cert-file", "string", ""),
    Param("tls-ca-cert-dir", "string", ""),
    Param("tls-dh-params-file", "string", ""),
    Param("tls-auth-clients", "enum", "yes", choices=("no", "yes", "optional")),
    Param("tls-protocols", "string", ""),
    Param("tls-ciphers", "string", ""),
    Param("tls-ciphersuites", "string", "", normalize=lambda raw, _current: _no_ciphersuites(raw)),
    Param("tls-prefer-server-ciphers", "bool", False),
    Param("databases", "int", 16, mutable=False, minimum=1, maximum=2**31 - 1),
    Param("maxclients", "int", 10000, minimum=1, maximum=2**32 - 1),
    Param("timeout", "int", 0, maximum=2**31 - 1),
    Param("loglevel", "enum", "notice", choices=("debug", "verbose", "notice", "warning")),
    Param("logfile", "string", "", mutable=False),
    Param("maxmemory", "memory", 0),
    Param(
        "maxmemory-policy",
        "enum",
        "noeviction",
        choices=MAXMEMORY_POLICIES,
    ),
    Param("maxmemory-samples", "int", 5, minimum=1, maximum=2**31 - 1),
    Param("notify-keyspace-events", "string", "xE", normalize=_normalize_notify_flags, show=_show_notify_flags),
    # Keyspace events appended to a stream (commands/eventstream.py): the stream's key in db 0
    # ("" off), its own event classes (notify-keyspace-events letters; K and E do not matter
    # there; `x` by default: `e` makes eviction feed the stream, see the README), its
    # approximate MAXLEN (0: unbounded; 100,000 entries are ~45 MB of the memory bound) and
    # whether expired and evicted keys' values are included.
    Param("keyspace-events-stream", "string", ""),
    Param(
        "keyspace-events-stream-flags", "string", "x", normalize=_normalize_notify_flags, show=_show_notify_flags
    ),
    Param("keyspace-events-stream-maxlen", "int", 100_000),
    Param("keyspace-events-stream-values", "bool", False),
    Param("proto-max-bulk-len", "memory", 512 * 1024**2, minimum=1024 * 1024),
    Param("client-query-buffer-limit", "memory", 1024**3, minimum=1024 * 1024),
    Param(
        "client-output-buffer-limit",
        "string",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        normalize=_normalize_output_limits,
    ),
    # Persistence (persistence/): RDB snapshots in `dir`/`dbfilename` on the `save` schedule
    # ("" by default: no automatic snapshots); the append-only file (persistence/aof.py) in
    # `dir`/`appenddirname`, Redis 7.0's multi-part layout.
    Param("save", "string", "", normalize=_normalize_save),
    Param("dir", "string", ".", mutable=False),
    Param("dbfilename", "string", "dump.rdb", normalize=_normalize_dbfilename),
    Param("rdbcompression", "bool", True),
    Param("rdbchecksum", "bool", True, mutable=False),
    Param("stop-writes-on-bgsave-error", "bool", True),
    Param("rdb-key-save-delay", "int", 0, minimum=-(2**31), maximum=2**31 - 1),
    Param("sanitize-dump-payload", "enum", "no", choices=("no", "yes", "clients")),
    Param("appendonly", "bool", False),
    Param("appendfilename", "string", "appendonly.aof", mutable=False, normalize=_normalize_appendfilename),
    Param("appenddirname", "string", "appendonlydir", mutable=False, normalize=_normalize_appenddirname),
    Param("appendfsync", "enum", "everysec", choices=("always", "everysec", "no")),
    Param("aof-use-rdb-preamble", "bool", True),
    Param("aof-timestamp-enabled", "bool", False),
    Param("aof-disable-auto-gc", "bool", False),
    Param("aof-load-truncated", "bool", True),
    Param("no-appendfsync-on-rewrite", "bool", False),
    Param("auto-aof-rewrite-percentage", "int", 100, maximum=2**31 - 1),
    Param("auto-aof-rewrite-min-size", "memory", 64 * 1024**2),
    Param("hz", "int", 10, maximum=2**31 - 1, clamp=(1, 500)),
    # tandem engine (see keyspace/tandem.py): measured defaults, documented in the README.
    Param("engine-min-shards", "int", 1, minimum=1, maximum=1 << 20),
    # 512/64 measured (bench/growth.py, embedded Store growing to 10 M keys): p99.99 of a SET
    # 133 us against 209-231 us with 1024/128 (70 us at 1 M keys) and 210 us with 4096/512.
    # The slow writes are shard resizes: a shard's values and access dicts grow in the same
    # write, and each new 4 KB page of their tables faults in (~10 us on this VM), so half the
    # table is half the stall. Eviction hit ratio unchanged (Zipf, LRU 0.7578 vs 0.7580, LFU
    # 0.7863 vs 0.7853); SCAN COUNT 10 visits one shard, ~380 keys. 8:1 keeps 4x hysteresis.
    Param("engine-shard-high-keys", "int", 512, minimum=16, maximum=1 << 30),
    Param("engine-shard-low-keys", "int", 64, minimum=1, maximum=1 << 30),
    Param("engine-slice-us", "int", 1000, minimum=10, maximum=1_000_000),
    Param("requirepass", "string", ""),
    Param("protected-mode", "bool", True),
    # ACL users (commands/users.py): the file ACL LOAD / ACL SAVE use, the ACL LOG's length, and
    # whether a new user may use every channel.
    Param("aclfile", "string", "", mutable=False),
    Param("acllog-max-len", "int", 128),
    Param("acl-pubsub-default", "enum", "resetchannels", choices=("allchannels", "resetchannels")),
    Param("slowlog-log-slower-than", "int", 10000, minimum=-1),
    Param("slowlog-max-len", "int", 128),
    Param("latency-monitor-threshold", "int", 0, minimum=0),
    Param("latency-tracking", "bool", True),
    Param("latency-tracking-info-percentiles", "string", "50 99 99.9",
          normalize=lambda raw, _current: _percentiles(raw)),
    # Data types: the thresholds of OBJECT ENCODING (tandemkv's structures do not change with
    # them; the encoding name reported does, as in Redis).
    Param("list-max-listpack-size", "int", -2, minimum=-(2**31), maximum=2**31 - 1, alias="list-max-ziplist-size"),
    Param("list-compress-depth", "int", 0, maximum=2**31 - 1),
    Param("hash-max-listpack-entries", "int", 512, alias="hash-max-ziplist-entries"),
    Param("hash-max-listpack-value", "memory", 64, alias="hash-max-ziplist-value"),
    Param("set-max-intset-entries", "int", 512),
    Param("zset-max-listpack-entries", "int", 128, alias="zset-max-ziplist-entries"),
    Param("zset-max-listpack-value", "memory", 64, alias="zset-max-ziplist-value"),
    # HyperLogLog: the largest sparse HLL string; an edit past it makes the HLL dense (values/hll.py).
    Param("hll-sparse-max-bytes", "memory", 3000, maximum=2**63 - 1),
    # Streams: where a new node starts (this decides what MAXLEN ~ / MINID ~ trim, as in Redis).
    Param("stream-node-max-bytes", "memory", 4096),
    Param("stream-node-max-entries", "int", 100),
    # Accepted for Redis's tools; tandemkv always frees big values in slices, never blocking.
    Param("lazyfree-lazy-eviction", "bool", False),
    Param("lazyfree-lazy-expire", "bool", False),
    Param("lazyfree-lazy-server-del", "bool", False),
    Param("lazyfree-lazy-user-del", "bool", False),
    Param("lazyfree-lazy-user-flush", "bool", False),
    # Scripting: past this many milliseconds a script that has not written is stopped (Redis
    # answers other clients BUSY instead; see scripting/runtime.py). 0: no limit.
    Param("busy-reply-threshold", "int", 5000, alias="lua-time-limit"),
)


@dataclass
class Config:
    """The live configuration. Read values with `config[name]` (typed), change them with `set`."""

    values: dict[str, object] = field(default_factory=dict)
    # `user <name> <rules...>` directives of the config file, applied at start (ACL users).
    users: list[list[bytes]] = field(default_factory=list)
    _observers: dict[str, list[Callable[[object], None]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for param in PARAMS:
            self.values.setdefault(param.name, param.default)

    def __getitem__(self, name: str) -> object:
        return self.values[name]

    def int(self, name: str) -> int:
        value = self.values[name]
        assert isinstance(value, int)
        return value

    def str(self, name: str) -> str:
        return str(self.values[name])

    @staticmethod
    def param(name: str) -> Param | None:
        return _BY_NAME.get(name.lower())

    def set(self, name: str, raw: bytes, *, startup: bool = False) -> None:
        """Parse and apply one value; raises KeyError for unknown names, ConfigError otherwise."""
        param = _BY_NAME[name.lower()]
        if not param.mutable and not startup:
            raise ConfigError("can't set immutable config")
        self.values[param.name] = param.parse(raw, self.values[param.name])
        self._notify(param.name)

    def set_many(self, pairs: list[tuple[bytes, bytes]]) -> None:
        """CONFIG SET: all pairs or none, checked in Redis 7.0's order (configSetCommand).

        The first problem met wins: UnknownParameter for an unknown name, else ConfigError
        naming the parameter as given (immutable, duplicate) or by its canonical name (a value
        that does not parse).
        """
        params: list[Param] = []
        for name, _value in pairs:
            given = name.decode("latin-1")
            param = _BY_NAME.get(given.lower())
            if param is None:
                raise UnknownParameter(given)
            if not param.mutable:
                raise ConfigError("can't set immutable config", given)
            if param in params:
                raise ConfigError("duplicate parameter", given)
            params.append(param)
        parsed = []
        for param, (_name, raw) in zip(params, pairs, strict=True):
            try:
                parsed.append(param.parse(raw, self.values[param.name]))
            except ConfigError as exc:
                raise ConfigError(exc.reason, param.name) from None
        before = {param.name: self.values[param.name] for param in params}
        for param, value in zip(params, parsed, strict=True):
            self.values[param.name] = value
        for param in params:
            try:
                self._notify(param.name)
            except ConfigError as exc:  # an observer could not apply it: nothing changes
                self.values.update(before)
                raise ConfigError(exc.reason, param.name) from None

    def _notify(self, name: str) -> None:
        """Run the observers of `name`; one may refuse the value by raising ConfigError
        (CONFIG SET then restores every value it was setting, as Redis's apply functions)."""
        for observer in self._observers.get(name, ()):
            observer(self.values[name])

    def watch(self, name: str, observer: Callable[[object], None]) -> None:
        self._observers.setdefault(name, []).append(observer)

    def get_many(self, patterns: list[bytes]) -> list[tuple[bytes, bytes]]:
        """CONFIG GET: (name, value) pairs for the parameters the patterns match, each once.

        As in Redis 7.0, a pattern without glob characters is a name looked up without regard
        to case and reported as given; glob patterns report canonical names.
        """
        found: dict[str, tuple[bytes, bytes]] = {}
        for pattern in patterns:
            if not any(ch in pattern for ch in b"[*?"):
                param = _BY_NAME.get(pattern.decode("latin-1").lower())
                if param is not None and param.name not in found:
                    found[param.name] = (pattern, param.format(self.values[param.name]))
                continue
            regex = compile_glob(pattern, nocase=True)
            for param in PARAMS:
                if param.name in found:
                    continue
                # Redis's table holds aliases as names too: a glob may match either.
                for name in (param.name, param.alias):
                    if name and regex.fullmatch(name.encode()) is not None:
                        found[param.name] = (name.encode(), param.format(self.values[param.name]))
                        break
        return list(found.values())


# What each parameter means: `tandemkv-server --help` prints this table (tests/test_config.py
# checks that every parameter has a line).
MEANINGS = {
    "bind": "addresses to listen on (startup only)",
    "port": "TCP port (startup only; 0 with a tls-port: TLS only)",
    "tls-port": "TLS port, beside the TCP port (0: no TLS; startup only)",
    "tls-cert-file": "the server's certificate (PEM)",
    "tls-key-file": "the private key of tls-cert-file (PEM)",
    "tls-key-file-pass": "the passphrase of tls-key-file, if it has one",
    "tls-ca-cert-file": "CA certificates that client certificates are checked against (PEM)",
    "tls-ca-cert-dir": "a directory of CA certificates (OpenSSL c_rehash layout)",
    "tls-dh-params-file": "Diffie-Hellman parameters (PEM), for DHE ciphers",
    "tls-auth-clients": "yes: clients must present a certificate; optional: checked if given; no",
    "tls-protocols": "protocols allowed, of TLSv1 TLSv1.1 TLSv1.2 TLSv1.3 (default: TLSv1.2 TLSv1.3)",
    "tls-ciphers": "OpenSSL cipher list for TLSv1.2 and below",
    "tls-ciphersuites": "TLSv1.3 cipher suites: only the default (empty) here; Python's ssl cannot set them",
    "tls-prefer-server-ciphers": "the server's cipher order wins over the client's",
    "databases": "number of databases (startup only)",
    "maxclients": "connections past this get an error",
    "timeout": "close clients idle this many seconds (0: never; pub/sub and blocked clients exempt)",
    "loglevel": "debug, verbose, notice or warning",
    "logfile": "log to this file instead of stdout (startup only)",
    "maxmemory": "memory bound in bytes, e.g. 100mb or 2gb (0: none)",
    "maxmemory-policy": "what to do over maxmemory: noeviction, or which keys to evict",
    "maxmemory-samples": "shards/keys sampled per eviction",
    "notify-keyspace-events": "keyspace event classes, in Redis's letters (Redis's default is empty)",
    "keyspace-events-stream": "key of a stream in db 0 that receives keyspace events (\"\": off)",
    "keyspace-events-stream-flags": "event classes appended to that stream (notify-keyspace-events letters)",
    "keyspace-events-stream-maxlen": "approximate MAXLEN of that stream, as XADD MAXLEN ~ (0: unbounded)",
    "keyspace-events-stream-values": "include the value of expired and evicted keys in that stream",
    "proto-max-bulk-len": "largest bulk string a client may send or a string may grow to",
    "client-query-buffer-limit": "largest pending request of one client",
    "client-output-buffer-limit": "per class: hard limit, soft limit, soft seconds (pubsub enforced)",
    "save": "snapshot schedule: \"<seconds> <changes> ...\" pairs start a BGSAVE (\"\": none)",
    "dir": "directory of the RDB file (startup only)",
    "dbfilename": "RDB file name, loaded at start and written by SAVE/BGSAVE",
    "rdbcompression": "compress strings in RDB files with LZF",
    "rdbchecksum": "end RDB files with a CRC-64 and check it on load (startup only)",
    "stop-writes-on-bgsave-error": "refuse writes (MISCONF) while the last background save failed and a schedule is set",
    "rdb-key-save-delay": "testing: a background save or AOF rewrite paced to take this many microseconds a key",
    "sanitize-dump-payload": "accepted for Redis's tools: every RDB/RESTORE payload is always checked in full",
    "appendonly": "append-only file: every write's effect logged in `dir`/`appenddirname`",
    "appendfilename": "prefix of the AOF's files and manifest (startup only)",
    "appenddirname": "directory of the AOF's files, inside `dir` (startup only)",
    "appendfsync": "always (a write is acknowledged once on disk), everysec, no",
    "aof-use-rdb-preamble": "AOF base files are RDB images (yes) or commands (no)",
    "aof-timestamp-enabled": "write #TS:<unix seconds> annotations in the AOF, as Redis",
    "aof-disable-auto-gc": "keep the files a rewrite replaced (history in the manifest) until set to no",
    "aof-load-truncated": "load an AOF whose last file ends inside a command, cutting the tail",
    "no-appendfsync-on-rewrite": "no fsync of the AOF while it is being rewritten",
    "auto-aof-rewrite-percentage": "rewrite the AOF when it grew this % over its last rewrite (0: never)",
    "auto-aof-rewrite-min-size": "... and is at least this big",
    "hz": "background cron frequency",
    "engine-min-shards": "smallest shard count of an engine",
    "engine-shard-high-keys": "keys per shard that start a step up (doubling)",
    "engine-shard-low-keys": "keys per shard that start a step down (halving)",
    "engine-slice-us": "time budget of one background migration slice, in microseconds",
    "requirepass": "the default user's password: connections must AUTH",
    "protected-mode": "without a password, accept only 127.0.0.1 and ::1",
    "aclfile": "file of ACL users (`user <name> <rules>` lines) read at start and by ACL LOAD/SAVE",
    "acllog-max-len": "entries the ACL LOG keeps",
    "acl-pubsub-default": "channels of a new user: allchannels or resetchannels (none)",
    "slowlog-log-slower-than": "log commands at least this many microseconds long (-1: off)",
    "slowlog-max-len": "entries the slow log keeps",
    "latency-tracking": "count each command's duration for LATENCY HISTOGRAM and INFO latencystats",
    "latency-tracking-info-percentiles": "the percentiles INFO latencystats reports, separated by spaces",
    "latency-monitor-threshold": "record events (commands, expiry and eviction slices) taking at least this many "
    "milliseconds for LATENCY (0: off)",
    "busy-reply-threshold": "milliseconds after which a script that has not written is stopped",
    "stream-node-max-bytes": "bytes of a stream node before a new one starts (Redis's layout)",
    "stream-node-max-entries": "entries of a stream node before a new one starts",
    "list-max-listpack-size": "OBJECT ENCODING threshold, as Redis (lists report quicklist)",
    "list-compress-depth": "accepted as Redis; lists are not compressed",
    "hash-max-listpack-entries": "OBJECT ENCODING threshold: fields of a listpack hash",
    "hash-max-listpack-value": "OBJECT ENCODING threshold: longest field or value of a listpack hash",
    "set-max-intset-entries": "OBJECT ENCODING threshold: members of an intset",
    "zset-max-listpack-entries": "OBJECT ENCODING threshold: members of a listpack sorted set",
    "zset-max-listpack-value": "OBJECT ENCODING threshold: longest member of a listpack sorted set",
    "hll-sparse-max-bytes": "largest sparse HyperLogLog string, header included, before it turns dense",
    "lazyfree-lazy-eviction": "accepted; big values are always freed in slices",
    "lazyfree-lazy-expire": "accepted; big values are always freed in slices",
    "lazyfree-lazy-server-del": "accepted; big values are always freed in slices",
    "lazyfree-lazy-user-del": "accepted; big values are always freed in slices",
    "lazyfree-lazy-user-flush": "accepted; big values are always freed in slices",
}


def describe_parameters() -> str:
    """Every parameter with its default and meaning, one per line (tandemkv-server --help)."""
    width = max(len(p.name) for p in PARAMS)
    lines = []
    for param in PARAMS:
        default = param.format(param.default).decode("latin-1") or '""'
        alias = f" (also {param.alias})" if param.alias else ""
        lines.append(f"  --{param.name:<{width}}  {default:<12} {MEANINGS.get(param.name, '')}{alias}")
    return "\n".join(lines)


_BY_NAME = {p.name: p for p in PARAMS} | {p.alias: p for p in PARAMS if p.alias}


def parse_config_text(text: str) -> list[tuple[str, list[str]]]:
    """Lines of a redis.conf-style file as (name, args); comments and blank lines skipped."""
    entries = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = _split_words(stripped)
        entries.append((words[0].lower(), words[1:]))
    return entries


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}
_HEX_ESCAPE = re.compile(r"x[0-9a-fA-F]{2}")


def _split_words(line: str) -> list[str]:
    """Words as Redis's sdssplitargs reads a config line: "double quotes" take the escapes
    \\xHH, \\n, \\r, \\t, \\b, \\a (and any other escaped character as itself), 'single
    quotes' only \\'."""
    words: list[str] = []
    current = ""
    quote = ""
    in_word = False
    i = 0
    while i < len(line):
        ch = line[i]
        i += 1
        if quote == '"' and ch == "\\" and i < len(line):
            if _HEX_ESCAPE.match(line, i):
                current += chr(int(line[i + 1:i + 3], 16))
                i += 3
            else:
                current += _ESCAPES.get(line[i], line[i])
                i += 1
        elif quote == "'" and ch == "\\" and line[i:i + 1] == "'":
            current += "'"
            i += 1
        elif quote:
            if ch == quote:
                quote = ""
            else:
                current += ch
        elif ch in "\"'":
            quote = ch
            in_word = True
        elif ch.isspace():
            if in_word:
                words.append(current)
                current, in_word = "", False
        else:
            current += ch
            in_word = True
    if in_word:
        words.append(current)
    return words
