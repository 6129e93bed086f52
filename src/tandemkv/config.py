"""Configuration: one table of parameters, Redis-style values, runtime changes with observers.

Rules:
- Every parameter listed here is honoured by the server; CONFIG GET/SET see exactly this table.
- Values are parsed the way redis-server parses them (memory units, yes/no, enums).
- Observers registered with `watch` run after a successful CONFIG SET of their parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tandemkv.glob import compile_glob


class ConfigError(Exception):
    """A value could not be applied; `reason` is Redis's wording after the parameter name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    text = raw.strip().lower()
    digits = text.rstrip(b"bkmg")
    unit = text[len(digits) :]
    if not digits or not digits.isdigit() or unit not in _MEMORY_UNITS:
        raise ConfigError("argument must be a memory value")
    return int(digits) * _MEMORY_UNITS[unit]


def format_memory(value: int) -> bytes:
    return str(value).encode()


@dataclass(slots=True)
class Param:
    name: str
    kind: str  # int | memory | bool | enum | string
    default: object
    mutable: bool = True
    minimum: int = 0
    maximum: int = 2**63 - 1
    choices: tuple[str, ...] = ()
    check: Callable[[bytes], None] | None = None

    def parse(self, raw: bytes) -> object:
        if self.kind == "int":
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError("argument couldn't be parsed into an integer") from None
            if not self.minimum <= value <= self.maximum:
                raise ConfigError(
                    f"argument must be between {self.minimum} and {self.maximum} inclusive"
                )
            return value
        if self.kind == "memory":
            value = parse_memory(raw)
            if value > self.maximum:
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
        if self.check is not None:
            self.check(raw)
        return raw.decode("latin-1")

    def format(self, value: object) -> bytes:
        if self.kind == "bool":
            return b"yes" if value else b"no"
        return str(value).encode("latin-1")


def _check_notify_flags(raw: bytes) -> None:
    if any(ch not in b"KEg$lshzxetmndA" for ch in raw):
        raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmnd'.")


def _check_output_limits(raw: bytes) -> None:
    parts = raw.split()
    if len(parts) % 4 != 0:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    for i in range(0, len(parts), 4):
        if parts[i].lower() not in (b"normal", b"replica", b"slave", b"pubsub"):
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        try:
            parse_memory(parts[i + 1])
            parse_memory(parts[i + 2])
            int(parts[i + 3])
        except (ConfigError, ValueError):
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.") from None


PARAMS: tuple[Param, ...] = (
    Param("bind", "string", "127.0.0.1", mutable=False),
    Param("port", "int", 6379, mutable=False, maximum=65535),
    Param("databases", "int", 16, mutable=False, minimum=1, maximum=2**31 - 1),
    Param("maxclients", "int", 10000, minimum=1, maximum=2**31 - 1),
    Param("timeout", "int", 0, maximum=2**31 - 1),
    Param("loglevel", "enum", "notice", choices=("debug", "verbose", "notice", "warning", "nothing")),
    Param("logfile", "string", "", mutable=False),
    Param("maxmemory", "memory", 0),
    Param(
        "maxmemory-policy",
        "enum",
        "noeviction",
        choices=(
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ),
    ),
    Param("maxmemory-samples", "int", 5, minimum=1, maximum=64),
    Param("notify-keyspace-events", "string", "Ex", check=_check_notify_flags),
    Param("proto-max-bulk-len", "memory", 512 * 1024**2, minimum=1024 * 1024),
    Param("client-query-buffer-limit", "memory", 1024**3, minimum=1024 * 1024),
    Param(
        "client-output-buffer-limit",
        "string",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        check=_check_output_limits,
    ),
    Param("hz", "int", 10, minimum=1, maximum=500),
    # tandem engine (see keyspace/tandem.py): measured defaults, documented in the README.
    Param("engine-min-shards", "int", 1, minimum=1, maximum=1 << 20),
    Param("engine-shard-high-keys", "int", 4096, minimum=16, maximum=1 << 30),
    Param("engine-shard-low-keys", "int", 512, minimum=1, maximum=1 << 30),
    Param("engine-slice-us", "int", 1000, minimum=10, maximum=1_000_000),
)


@dataclass
class Config:
    """The live configuration. Read values with `config[name]` (typed), change them with `set`."""

    values: dict[str, object] = field(default_factory=dict)
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
        self.values[param.name] = param.parse(raw)
        for observer in self._observers.get(param.name, ()):
            observer(self.values[param.name])

    def watch(self, name: str, observer: Callable[[object], None]) -> None:
        self._observers.setdefault(name, []).append(observer)

    def matching(self, pattern: str) -> list[tuple[str, bytes]]:
        """(name, formatted value) for every parameter whose name matches the glob pattern."""
        regex = compile_glob(pattern.encode("latin-1"), nocase=True)
        return [
            (p.name, p.format(self.values[p.name]))
            for p in PARAMS
            if regex.fullmatch(p.name.encode()) is not None
        ]


_BY_NAME = {p.name: p for p in PARAMS}


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


def _split_words(line: str) -> list[str]:
    words: list[str] = []
    current = ""
    quote = ""
    in_word = False
    for ch in line:
        if quote:
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
