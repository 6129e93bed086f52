"""ACL users (Redis 7.0's acl.c): users, their selectors, the rules that change them, the
permission check the dispatcher runs, the ACL log, and the aclfile format.

Rules:
- A user has flags (on/off, nopass, sanitize-payload), SHA-256 password hashes, and selectors;
  the first selector is the root one (the rules written outside parentheses). A command is
  allowed when any selector allows it: its command rule, then every key it names (with the
  read/write access the command needs on that key), then every channel it names.
- A selector's commands are a set of full names ("get", "config|get"), plus `future` (set by
  +@all / allcommands only: the user was described starting from +@all) and `allcommands`
  (the fast path; any single -command clears it, as Redis clears SELECTOR_FLAG_ALLCOMMANDS).
- `User.unrestricted` says one selector allows everything: the dispatcher checks nothing
  more for such a user (the default user), so permissions cost one attribute test there.
- Rules are applied to a copy and committed only when all are valid (ACLStringSetUser): a
  failed SETUSER leaves the user as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tandemkv.commands.categories import ACL_CATEGORIES, acl_categories
from tandemkv.commands.keyfinders import key_finder
from tandemkv.commands.table import TABLE, CommandSpec
from tandemkv.config import ConfigError
from tandemkv.glob import compile_glob

log = logging.getLogger("tandemkv")

READ = 1
WRITE = 2
READ_WRITE = READ | WRITE

# ACLCheckAllUserCommandPerm's results, in Redis's order (a higher one is the one reported).
ACL_OK = 0
DENIED_CMD = 1
DENIED_KEY = 2
DENIED_AUTH = 3  # ACL LOG only
DENIED_CHANNEL = 4

LOG_REASONS = {DENIED_CMD: "command", DENIED_KEY: "key", DENIED_CHANNEL: "channel", DENIED_AUTH: "auth"}
LOG_GROUPING_MS = 60000  # ACL_LOG_GROUPING_MAX_TIME_DELTA: similar denials within a minute share an entry
LOG_SCAN_ENTRIES = 10  # how many recent entries are compared with a new one


class RuleError(Exception):
    """An ACL SETUSER modifier that cannot be applied; `reason` is ACLSetUserStringError's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


ERR_SYNTAX = "Syntax error"
ERR_UNKNOWN = "Unknown command or category name in ACL"
ERR_ALLKEYS = (
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have "
    "any effect. Try 'resetkeys' to start with an empty list of patterns"
)
ERR_ALLCHANNELS = (
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not "
    "have any effect. Try 'resetchannels' to start with an empty list of channels"
)
ERR_NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"
ERR_BAD_HASH = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
ERR_FIRSTARG_OF_SUBCOMMAND = "Allowing first-arg of a subcommand is not supported"

_HASH = re.compile(rb"[0-9a-f]{64}")
_SPACE = frozenset(b" \t\n\v\f\r\x00")


def has_spaces(text: bytes) -> bool:
    """ACLStringHasSpaces: whitespace or NUL anywhere (usernames, key and channel patterns)."""
    return not _SPACE.isdisjoint(text)


def hash_password(password: bytes) -> bytes:
    return hashlib.sha256(password).hexdigest().encode()


# --------------------------------------------------------------------------- the command table


class Catalog:
    """What rules need to know of the command table, computed once (after every command
    module has registered its specs): specs in table order, by full name, and the members of
    each category."""

    def __init__(self) -> None:
        self.specs: list[CommandSpec] = []
        for spec in TABLE:
            self.specs.append(spec)
            self.specs.extend(spec.subcommands.values())
        self.names = frozenset(spec.full_name for spec in self.specs)
        # Members of each category (commands and subcommands counted on their own), and what
        # +@category sets: each member with all its subcommands (ACLChangeSelectorPerm).
        self.members: dict[str, frozenset[str]] = {}
        self.expanded: dict[str, frozenset[str]] = {}
        for category in ACL_CATEGORIES:
            chosen = [spec for spec in self.specs if category in acl_categories(spec)]
            self.members[category] = frozenset(spec.full_name for spec in chosen)
            self.expanded[category] = frozenset(name for spec in chosen for name in _with_subcommands(spec))

    def lookup(self, name: bytes) -> CommandSpec | None:
        """ACLLookupCommand: a command, or 'container|sub', case-insensitively."""
        parts = name.lower().split(b"|")
        if len(parts) > 2:
            return None
        spec = TABLE.specs.get(parts[0])
        if spec is None or len(parts) == 1:
            return spec
        return spec.subcommands.get(parts[1])


def _with_subcommands(spec: CommandSpec) -> list[str]:
    return [spec.full_name, *(sub.full_name for sub in spec.subcommands.values())]


_catalog: Catalog | None = None


def catalog() -> Catalog:
    """The catalog of the table as it is now (rebuilt if commands were registered since:
    scripting and persistence register theirs after commands/)."""
    global _catalog
    if _catalog is None or len(_catalog.specs) != sum(1 + len(spec.subcommands) for spec in TABLE):
        _catalog = Catalog()
    return _catalog


# --------------------------------------------------------------------------- keys and channels
#
# The access a command needs on each key (Redis's key specs: ACCESS is read; INSERT, DELETE,
# UPDATE are write). By default a read-only command reads its keys and a write command reads
# and writes them; these commands differ (their key specs, per key in order, the last one
# repeating for the rest).
_NONE = 0
_KEY_ACCESS: dict[str, tuple[int, ...]] = {
    **dict.fromkeys(
        (
            "append", "del", "unlink", "expire", "expireat", "pexpire", "pexpireat", "persist",
            "hdel", "hmset", "hset", "hsetnx", "linsert", "lpush", "lpushx", "rpush", "rpushx",
            "lrem", "lset", "ltrim", "mset", "msetnx", "psetex", "setex", "setnx", "setrange",
            "restore", "sadd", "srem", "xack", "xadd", "xautoclaim", "xclaim", "xdel", "xsetid",
            "xtrim", "xgroup|create", "xgroup|createconsumer", "xgroup|delconsumer",
            "xgroup|destroy", "xgroup|setid", "zadd", "zrem", "zremrangebylex",
            "zremrangebyrank", "zremrangebyscore", "geoadd", "pfadd",
        ),
        (WRITE,),
    ),
    **dict.fromkeys(
        ("blmove", "brpoplpush", "lmove", "rpoplpush", "rename", "renamenx", "smove"), (READ_WRITE, WRITE)
    ),
    **dict.fromkeys(
        (
            "sdiffstore", "sinterstore", "sunionstore", "zdiffstore", "zinterstore", "zunionstore", "zrangestore",
            "bitop", "geosearchstore",
        ),
        (WRITE, READ),
    ),
    **dict.fromkeys(("georadius", "georadiusbymember"), (READ, WRITE)),  # the key, then STORE keys
    "pfmerge": (READ_WRITE, READ),
    "pfdebug": (READ,),
    "copy": (READ, WRITE),
    "sort": (READ, WRITE),
    "xreadgroup": (READ,),
    **dict.fromkeys(
        (
            "exists", "hexists", "hlen", "hstrlen", "llen", "memory|usage", "object|encoding",
            "object|freq", "object|idletime", "object|refcount", "scard", "sismember", "strlen",
            "touch", "type", "watch", "xlen", "zcard",
        ),
        (_NONE,),
    ),
}
# Commands whose key specs are all NOT_KEY: their "keys" are shard channels, checked as such.
_NOT_KEYS = frozenset({"spublish", "ssubscribe", "sunsubscribe"})

# Channel arguments (getChannelsFromCommand): where they start, whether only one, whether
# patterns. UNSUBSCRIBE and friends name channels but are never refused.
_CHANNELS: dict[str, tuple[bool, bool]] = {
    "subscribe": (False, False),
    "ssubscribe": (False, False),
    "psubscribe": (False, True),
    "publish": (True, False),
    "spublish": (True, False),
}

KeyAccess = tuple[tuple[int, int], ...]  # (position, READ/WRITE bits) of each key
KeyPlan = KeyAccess | Callable[[list[bytes]], KeyAccess]


def _set_access(argv: list[bytes]) -> KeyAccess:
    """SET reads its key only with the GET option (setGetKeys)."""
    for word in argv[3:]:
        if len(word) == 3 and word.lower() == b"get":
            return ((1, READ_WRITE),)
    return ((1, WRITE),)


def _bitfield_access(argv: list[bytes]) -> KeyAccess:
    """BITFIELD only reads its key when every operation is a GET (bitfieldGetKeys)."""
    i, argc = 2, len(argv)
    while i < argc:
        word, left = argv[i].lower(), argc - i - 1
        if word == b"get" and left >= 2:
            i += 3
        elif word == b"overflow" and left >= 1:
            i += 2
        else:  # SET, INCRBY, or a syntax error (taken as a write, as Redis does)
            return ((1, READ_WRITE),)
    return ((1, READ),)


def _key_plan(spec: CommandSpec) -> KeyPlan | None:
    """Where a command's keys are and the access each needs: a tuple when that does not
    depend on the arguments (GET: ((1, READ),)), else a function of the command line; None
    when the command has no keys."""
    name = spec.full_name
    if name in _NOT_KEYS:
        return None
    if name == "set":
        return _set_access
    if name == "bitfield":
        return _bitfield_access
    finder = key_finder(spec)
    if finder is None and spec.first_key == 0:
        return None
    access = _KEY_ACCESS.get(name)
    if access is None:
        access = (READ,) if "readonly" in spec.flags else (READ_WRITE,)
    last = len(access) - 1
    if finder is None and spec.last_key >= 0:
        return tuple((pos, access[min(i, last)]) for i, pos in enumerate(spec.key_positions(spec.last_key + 1)))
    found = finder or (lambda argv: spec.key_positions(len(argv)))

    def plan(argv: list[bytes]) -> KeyAccess:
        return tuple((pos, access[min(i, last)]) for i, pos in enumerate(found(argv)) if pos < len(argv))

    return plan


_plans: dict[str, KeyPlan | None] = {}


def key_plan(spec: CommandSpec) -> KeyPlan | None:
    name = spec.full_name
    if name not in _plans:
        _plans[name] = _key_plan(spec)
    return _plans[name]


_GLOB_SPECIALS = frozenset(b"*?[\\")


def _never(key: bytes) -> bool:
    return False


# What User.permits knows of a command ahead: True (allowed), False (ask check), the tests of
# its keys by position, or a test of the whole command line.
FastRule = bool | tuple[tuple[int, Callable[[bytes], bool]], ...] | Callable[[list[bytes]], bool]


def _matcher(pattern: bytes) -> Callable[[bytes], bool]:
    """A test of keys against a glob pattern: the common shapes (`*`, `prefix*`) without a
    regular expression; an empty key matches neither, as in stringmatchlen."""
    prefix = pattern.rstrip(b"*")
    if prefix != pattern and _GLOB_SPECIALS.isdisjoint(prefix):
        if not prefix:
            return bool
        return lambda key: key.startswith(prefix)
    regex = compile_glob(pattern)
    return lambda key: regex.fullmatch(key) is not None


# --------------------------------------------------------------------------- selectors


@dataclass(slots=True)
class KeyPattern:
    pattern: bytes
    access: int  # READ, WRITE or both
    match: Callable[[bytes], bool] = field(compare=False)

    def describe(self) -> bytes:
        prefix = {READ_WRITE: b"~", READ: b"%R~", WRITE: b"%W~"}[self.access]
        return prefix + self.pattern


@dataclass(slots=True)
class Selector:
    """One set of permissions (aclSelector): commands, key patterns, channel patterns."""

    root: bool = False
    allkeys: bool = False
    allchannels: bool = False
    allcommands: bool = False
    future: bool = False  # +@all was applied (describes as "+@all ..."; Redis's reserved bit)
    allowed: set[str] = field(default_factory=set)
    firstargs: dict[str, list[bytes]] = field(default_factory=dict)
    keys: list[KeyPattern] = field(default_factory=list)
    channels: list[bytes] = field(default_factory=list)

    def clone(self) -> Selector:
        return Selector(
            self.root, self.allkeys, self.allchannels, self.allcommands, self.future, set(self.allowed),
            {name: list(args) for name, args in self.firstargs.items()}, list(self.keys), list(self.channels),
        )

    @property
    def unrestricted(self) -> bool:
        return self.allcommands and self.allkeys and self.allchannels

    def apply(self, op: bytes) -> None:
        """ACLSetSelector: one modifier; raises RuleError."""
        lowered = op.lower()
        if lowered == b"allkeys" or op == b"~*":
            self.allkeys = True
            self.keys = []
        elif lowered == b"resetkeys":
            self.allkeys = False
            self.keys = []
        elif lowered == b"allchannels" or op == b"&*":
            self.allchannels = True
            self.channels = []
        elif lowered == b"resetchannels":
            self.allchannels = False
            self.channels = []
        elif lowered in (b"allcommands", b"+@all"):
            self.allowed = set(catalog().names)
            self.allcommands = self.future = True
            self.firstargs = {}
        elif lowered in (b"nocommands", b"-@all"):
            self.allowed = set()
            self.allcommands = self.future = False
            self.firstargs = {}
        elif op[:1] in (b"~", b"%"):
            self._add_key_pattern(op)
        elif op[:1] == b"&":
            if self.allchannels:
                raise RuleError(ERR_ALLCHANNELS)
            pattern = op[1:]
            if has_spaces(pattern):
                raise RuleError(ERR_SYNTAX)
            if pattern not in self.channels:
                self.channels.append(pattern)
            self.allchannels = False
        elif op[:1] == b"+" and op[1:2] != b"@":
            self._allow(op[1:])
        elif op[:1] == b"-" and op[1:2] != b"@":
            spec = catalog().lookup(op[1:])
            if spec is None:
                raise RuleError(ERR_UNKNOWN)
            self.change(spec, False)
        elif op[:1] in (b"+", b"-") and op[1:2] == b"@":
            category = op[2:].decode("latin-1").lower()
            if category not in catalog().members:
                raise RuleError(ERR_UNKNOWN)
            self.change_category(category, op[:1] == b"+")
        else:
            raise RuleError(ERR_SYNTAX)

    def _add_key_pattern(self, op: bytes) -> None:
        if self.allkeys:
            raise RuleError(ERR_ALLKEYS)
        access = 0
        offset = 1
        if op[:1] == b"%":
            while offset < len(op):
                ch = op[offset : offset + 1].upper()
                if ch == b"R" and not access & READ:
                    access |= READ
                elif ch == b"W" and not access & WRITE:
                    access |= WRITE
                elif ch == b"~":
                    offset += 1
                    break
                else:
                    raise RuleError(ERR_SYNTAX)
                offset += 1
            if not access:  # "%~x": Redis 7.0 accepts it and later crashes describing it
                raise RuleError(ERR_SYNTAX)
        else:
            access = READ_WRITE
        pattern = op[offset:]
        if has_spaces(pattern):
            raise RuleError(ERR_SYNTAX)
        for i, existing in enumerate(self.keys):
            if existing.pattern == pattern:
                self.keys[i] = KeyPattern(pattern, existing.access | access, existing.match)
                break
        else:
            self.keys.append(KeyPattern(pattern, access, _matcher(pattern)))
        self.allkeys = False

    def _allow(self, name: bytes) -> None:
        """+command, +container|sub, or +command|first-arg."""
        cat = catalog()
        base, bar, sub = name.rpartition(b"|")
        if not bar:
            spec = cat.lookup(name)
            if spec is None:
                raise RuleError(ERR_UNKNOWN)
            self.change(spec, True)
            return
        spec = cat.lookup(base)
        if spec is None:
            raise RuleError(ERR_UNKNOWN)
        if spec.container:
            raise RuleError(ERR_FIRSTARG_OF_SUBCOMMAND)
        if not sub:
            raise RuleError(ERR_SYNTAX)
        if spec.subcommands:
            found = cat.lookup(name)
            if found is None:
                raise RuleError(ERR_UNKNOWN)
            self.change(found, True)
            return
        # +select|0: a first argument of an otherwise blocked command (deprecated in Redis).
        allowed = self.firstargs.setdefault(spec.full_name, [])
        if not any(sub.lower() == given.lower() for given in allowed):
            allowed.append(sub)

    def change(self, spec: CommandSpec, allow: bool) -> None:
        """ACLChangeSelectorPerm: the command and all its subcommands."""
        self.firstargs.pop(spec.full_name, None)
        names = _with_subcommands(spec)
        if allow:
            self.allowed.update(names)
        else:
            self.allowed.difference_update(names)
            self.allcommands = False

    def change_category(self, category: str, allow: bool) -> None:
        cat = catalog()
        for spec in cat.specs:
            if spec.full_name in cat.members[category]:
                self.change(spec, allow)

    # ------------------------------------------------------------ checks

    def check(self, spec: CommandSpec, argv: list[bytes]) -> tuple[int, int]:
        """ACLSelectorCheckCmd: (ACL_OK or a DENIED_* result, the argument it is about)."""
        name = spec.full_name
        if not self.allcommands and name not in self.allowed and "no_auth" not in spec.flags:
            firstargs = self.firstargs.get(name)
            index = 2 if spec.container else 1
            if firstargs is None or len(argv) <= index:
                return DENIED_CMD, 0
            given = argv[index].lower()
            if not any(given == allowed.lower() for allowed in firstargs):
                return DENIED_CMD, 0
        if not self.allkeys:
            plan = _plans[name] if name in _plans else key_plan(spec)
            if plan is not None:
                for pos, access in plan if plan.__class__ is tuple else plan(argv):  # type: ignore[operator,union-attr]
                    if not self.key_allowed(argv[pos], access):
                        return DENIED_KEY, pos
        if not self.allchannels:
            channels = _CHANNELS.get(name)
            if channels is not None:
                only_first, is_pattern = channels
                for pos in range(1, 2 if only_first else len(argv)):
                    if not self.channel_allowed(argv[pos], is_pattern):
                        return DENIED_CHANNEL, pos
        return ACL_OK, 0

    def key_matcher(self, access: int) -> Callable[[bytes], bool]:
        """A test of a key against every pattern that grants `access`."""
        matchers = [pattern.match for pattern in self.keys if pattern.access & access == access]
        if not matchers:
            return _never
        if len(matchers) == 1:
            return matchers[0]
        return lambda key: any(match(key) for match in matchers)

    def key_allowed(self, key: bytes, access: int) -> bool:
        if self.allkeys:
            return True
        for pattern in self.keys:
            if pattern.access & access == access and pattern.match(key):
                return True
        return False

    def channel_allowed(self, channel: bytes, is_pattern: bool) -> bool:
        if self.allchannels:
            return True
        if is_pattern:  # a PSUBSCRIBE pattern matches an ACL pattern only literally
            return channel in self.channels
        return any(compile_glob(pattern).fullmatch(channel) is not None for pattern in self.channels)

    # ------------------------------------------------------------ descriptions

    def describe_keys(self) -> bytes:
        if self.allkeys:
            return b"~*"
        return b" ".join(pattern.describe() for pattern in self.keys)

    def describe_channels(self) -> bytes:
        if self.allchannels:
            return b"&*"
        return b" ".join(b"&" + pattern for pattern in self.channels)

    def describe(self) -> bytes:
        """ACLDescribeSelector: keys, channels, then command rules."""
        parts = []
        if self.allkeys:
            parts.append(b"~*")
        else:
            parts.extend(pattern.describe() for pattern in self.keys)
        if self.allchannels:
            parts.append(b"&*")
        else:
            parts.append(b"resetchannels")
            parts.extend(b"&" + pattern for pattern in self.channels)
        parts.append(self.describe_commands())
        return b" ".join(parts)

    def describe_commands(self) -> bytes:
        """ACLDescribeSelectorCommandRules: +@all or -@all, then the categories that fit best
        (greedily, as Redis chooses them), then single commands to make the set exact."""
        cat = catalog()
        additive = not self.future
        rules = [b"-@all" if additive else b"+@all"]
        fake = set() if additive else set(cat.names)
        temp = set(self.allowed)
        applied: set[str] = set()
        while True:
            best = None
            min_diff, max_same = 1 << 62, 0
            for category in ACL_CATEGORIES:
                if category in applied:
                    continue
                members = cat.members[category]
                on = len(members & temp)
                off = len(members) - on
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (diff < min_diff or (diff == min_diff and same > max_same)):
                    best, min_diff, max_same = category, diff, same
            if best is None:
                break
            expanded = cat.expanded[best]
            if additive:
                fake |= expanded
                temp -= expanded
            else:
                fake -= expanded
                temp |= expanded
            rules.append((b"+@" if additive else b"-@") + best.encode())
            applied.add(best)
        for spec in TABLE:
            self._describe_single(spec, fake, rules)
        return b" ".join(rules)

    def _describe_single(self, spec: CommandSpec, fake: set[str], rules: list[bytes]) -> None:
        name = spec.full_name
        user_bit = name in self.allowed
        if user_bit != (name in fake):
            rules.append((b"+" if user_bit else b"-") + name.encode())
            names = _with_subcommands(spec)
            if user_bit:
                fake.update(names)
            else:
                fake.difference_update(names)
        for sub in spec.subcommands.values():
            self._describe_single(sub, fake, rules)
        if not user_bit:
            for arg in self.firstargs.get(name, ()):
                rules.append(b"+" + name.encode() + b"|" + arg)


# --------------------------------------------------------------------------- users


@dataclass(slots=True)
class User:
    name: bytes
    enabled: bool = False
    nopass: bool = False
    sanitize: str = ""  # "", "sanitize-payload" or "skip-sanitize-payload"
    passwords: list[bytes] = field(default_factory=list)  # hex SHA-256, in the order added
    selectors: list[Selector] = field(default_factory=list)
    unrestricted: bool = False  # some selector allows every command, key and channel
    # Per command full name, what `permits` knows ahead (see there); emptied by `refresh`.
    _fast: dict[str, FastRule] = field(default_factory=dict)

    @classmethod
    def create(cls, name: bytes, pubsub_default_all: bool) -> User:
        user = cls(name)
        user.selectors.append(Selector(root=True, allchannels=pubsub_default_all))
        return user

    def copy_rules(self, other: User) -> None:
        """ACLCopyUser: take every rule of `other`, keep this name."""
        self.enabled = other.enabled
        self.nopass = other.nopass
        self.sanitize = other.sanitize
        self.passwords = list(other.passwords)
        self.selectors = [selector.clone() for selector in other.selectors]
        self.refresh()

    def refresh(self) -> None:
        """Recompute what is derived from the rules; every change of rules ends with this."""
        self.unrestricted = any(selector.unrestricted for selector in self.selectors)
        self._fast = {}

    def permits(self, spec: CommandSpec, argv: list[bytes]) -> bool:
        """True when the command line is surely allowed; False means "ask `check`" (a denial,
        or a case this shortcut does not cover). For a one-selector user it costs a dict
        lookup and a test per key: the restricted user's price per GET/SET."""
        rule = self._fast.get(spec.full_name)
        if rule is None:
            rule = self._fast[spec.full_name] = self._fast_rule(spec)
        if rule.__class__ is tuple:
            for pos, match in rule:  # type: ignore[union-attr]  # noqa: SIM110 (all() and a generator cost more)
                if not match(argv[pos]):
                    return False
            return True
        if rule is True or rule is False:
            return rule  # type: ignore[return-value]
        return rule(argv)  # type: ignore[operator]

    def _fast_rule(self, spec: CommandSpec) -> FastRule:
        if len(self.selectors) != 1:
            return False
        selector = self.root
        name = spec.full_name
        if not (selector.allcommands or name in selector.allowed or "no_auth" in spec.flags):
            return False
        if not selector.allchannels and name in _CHANNELS:
            return False
        plan = None if selector.allkeys else key_plan(spec)
        if plan is None:
            return True
        if plan.__class__ is tuple:
            return tuple((pos, selector.key_matcher(access)) for pos, access in plan)  # type: ignore[union-attr]
        if name == "set":
            write, read_write = selector.key_matcher(WRITE), selector.key_matcher(READ_WRITE)

            def set_rule(argv: list[bytes]) -> bool:
                if len(argv) == 3:  # no options: the common SET
                    return write(argv[1])
                return (read_write if _set_access(argv)[0][1] == READ_WRITE else write)(argv[1])

            return set_rule
        return False

    @property
    def root(self) -> Selector:
        return self.selectors[0]

    def apply(self, op: bytes, pubsub_default_all: bool) -> None:
        """ACLSetUser: one modifier; raises RuleError. Call `refresh` after the last one."""
        if not op:
            return
        lowered = op.lower()
        if lowered == b"on":
            self.enabled = True
        elif lowered == b"off":
            self.enabled = False
        elif lowered == b"skip-sanitize-payload":
            self.sanitize = "skip-sanitize-payload"
        elif lowered == b"sanitize-payload":
            self.sanitize = "sanitize-payload"
        elif lowered == b"nopass":
            self.nopass = True
            self.passwords = []
        elif lowered == b"resetpass":
            self.nopass = False
            self.passwords = []
        elif op[:1] in (b">", b"#"):
            digest = hash_password(op[1:]) if op[:1] == b">" else _checked_hash(op[1:])
            if digest not in self.passwords:
                self.passwords.append(digest)
            self.nopass = False
        elif op[:1] in (b"<", b"!"):
            digest = hash_password(op[1:]) if op[:1] == b"<" else _checked_hash(op[1:])
            if digest not in self.passwords:
                raise RuleError(ERR_NO_SUCH_PASSWORD)
            self.passwords.remove(digest)
        elif op[:1] == b"(" and op[-1:] == b")":
            selector = Selector(allchannels=pubsub_default_all)
            for word in split_args(op[1:-1]):
                selector.apply(word)
            self.selectors.append(selector)
        elif lowered == b"clearselectors":
            del self.selectors[1:]
        elif lowered == b"reset":
            self.passwords = []
            self.nopass = False
            root = self.root
            root.apply(b"resetkeys")
            root.apply(b"resetchannels")
            if pubsub_default_all:
                root.apply(b"allchannels")
            self.enabled = False
            self.sanitize = "sanitize-payload"
            del self.selectors[1:]
            root.apply(b"-@all")
        else:
            self.root.apply(op)

    def check_password(self, password: bytes) -> bool:
        """ACLCheckUserCredentials, the user found: enabled, and nopass or a matching hash."""
        if not self.enabled:
            return False
        if self.nopass:
            return True
        digest = hash_password(password)
        return any(hmac.compare_digest(digest, known) for known in self.passwords)

    def describe(self) -> bytes:
        """ACLDescribeUser: flags, password hashes, the root selector, other selectors."""
        parts = [b"on" if self.enabled else b"off"]
        if self.nopass:
            parts.append(b"nopass")
        if self.sanitize:
            parts.append(self.sanitize.encode())
        parts.extend(b"#" + digest for digest in self.passwords)
        text = b" ".join(parts) + b" " + self.root.describe()
        for selector in self.selectors[1:]:
            text += b" (" + selector.describe() + b")"
        return text

    def flags(self) -> list[bytes]:
        """ACL GETUSER's flags, in ACLDescribeUser's order."""
        out = [b"on" if self.enabled else b"off"]
        if self.nopass:
            out.append(b"nopass")
        if self.sanitize:
            out.append(self.sanitize.encode())
        return out

    def reads_every_key(self, spec: CommandSpec, argv: list[bytes]) -> bool:
        """ACLUserCheckCmdWithUnrestrictedKeyAccess(CMD_KEY_ACCESS): a selector that allows
        this command line may also read any key (allkeys, or a read pattern `*`)."""
        return any(
            selector.check(spec, argv)[0] == ACL_OK
            and (selector.allkeys or any(p.pattern == b"*" and p.access & READ for p in selector.keys))
            for selector in self.selectors
        )

    def check(self, spec: CommandSpec, argv: list[bytes]) -> tuple[int, int]:
        """ACLCheckAllUserCommandPerm: (ACL_OK, 0) when some selector allows the command, else
        the most relevant denial: a command denial only if no selector got past the command
        rule, else the highest result, then the last argument position."""
        selectors = self.selectors
        if len(selectors) == 1:
            return selectors[0].check(spec, argv)
        result, position = DENIED_CMD, 0
        for selector in selectors:
            denied, at = selector.check(spec, argv)
            if denied == ACL_OK:
                return ACL_OK, 0
            if denied > result or (denied == result and at > position):
                result, position = denied, at
        return result, position


def _checked_hash(text: bytes) -> bytes:
    if _HASH.fullmatch(text) is None:
        raise RuleError(ERR_BAD_HASH)
    return text


def merge_selectors(args: list[bytes]) -> list[bytes]:
    """ACLMergeSelectorArguments: a selector written over several words ("(~x", "+get)") is
    one modifier; raises ValueError with the word that opens an unclosed one."""
    merged: list[bytes] = []
    opened: bytes | None = None
    for word in args:
        if opened is None and word[:1] == b"(" and word[-1:] != b")":
            opened = word
            start = word
            continue
        if opened is not None:
            opened += b" " + word
            if word[-1:] == b")":
                merged.append(opened)
                opened = None
            continue
        merged.append(word)
    if opened is not None:
        raise ValueError(start)
    return merged


def split_args(text: bytes) -> list[bytes]:
    """sdssplitargs, as selectors inside parentheses are split: words separated by spaces,
    with "double" (escapes) and 'single' quotes."""
    words: list[bytes] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i : i + 1].isspace():
            i += 1
        if i >= n:
            return words
        current = bytearray()
        quote = 0
        while i < n:
            ch = text[i]
            if quote == 0x22:  # "
                if ch == 0x5C and i + 1 < n:
                    i += 1
                    current.append(_ESCAPES.get(text[i], text[i]))
                elif ch == 0x22:
                    if i + 1 < n and not text[i + 1 : i + 2].isspace():
                        raise RuleError(ERR_SYNTAX)
                    i += 1
                    break
                else:
                    current.append(ch)
            elif quote == 0x27:  # '
                if ch == 0x5C and i + 1 < n and text[i + 1] == 0x27:
                    i += 1
                    current.append(0x27)
                elif ch == 0x27:
                    if i + 1 < n and not text[i + 1 : i + 2].isspace():
                        raise RuleError(ERR_SYNTAX)
                    i += 1
                    break
                else:
                    current.append(ch)
            elif text[i : i + 1].isspace():
                break
            elif ch in (0x22, 0x27):
                quote = ch
            else:
                current.append(ch)
            i += 1
        else:
            if quote:
                raise RuleError(ERR_SYNTAX)
        words.append(bytes(current))


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


# --------------------------------------------------------------------------- the ACL log


@dataclass(slots=True)
class LogEntry:
    count: int
    reason: int
    context: str  # toplevel, multi, lua
    object: bytes
    username: bytes
    ctime_ms: int
    client_info: str


# --------------------------------------------------------------------------- all users


class AccessControl:
    """Every user (by name), the default user, and the ACL log."""

    def __init__(self, pubsub_default_all: bool = False) -> None:
        self.pubsub_default_all = pubsub_default_all
        self.users: dict[bytes, User] = {}
        self.default = self._new_default()
        self.users[b"default"] = self.default
        self.log: list[LogEntry] = []  # newest first

    def _new_default(self) -> User:
        user = User.create(b"default", self.pubsub_default_all)
        for op in (b"+@all", b"~*", b"&*", b"on", b"nopass"):
            user.apply(op, self.pubsub_default_all)
        user.refresh()
        return user

    @property
    def auth_required(self) -> bool:
        """authRequired's first half: the default user needs a password or is off."""
        default = self.default
        return not default.nopass or not default.enabled

    def set_default_password(self, password: bytes) -> None:
        """requirepass (ACLUpdateDefaultUserPassword): "" makes the default user nopass."""
        default = self.default
        default.apply(b"resetpass", self.pubsub_default_all)
        default.apply(b">" + password if password else b"nopass", self.pubsub_default_all)
        default.refresh()

    def staged(self, user: User | None, name: bytes, ops: Iterable[bytes]) -> User:
        """The user as `ops` leave it, applied to a copy (or to a new user); raises RuleError
        with the modifier at fault as ValueError's first argument."""
        staged = User.create(name, self.pubsub_default_all)
        if user is not None:
            staged.copy_rules(user)
        for op in ops:
            try:
                staged.apply(op, self.pubsub_default_all)
            except RuleError as exc:
                raise SetUserError(op, exc.reason) from None
        staged.refresh()
        return staged

    def commit(self, name: bytes, staged: User) -> tuple[User, User | None]:
        """Store the staged rules under `name`; (the live user, a copy of its old rules or
        None when it is new)."""
        user = self.users.get(name)
        if user is None:
            user = User.create(name, self.pubsub_default_all)
            user.copy_rules(staged)
            self.users[name] = user
            return user, None
        before = User.create(name, self.pubsub_default_all)
        before.copy_rules(user)
        user.copy_rules(staged)
        return user, before

    def add_log(self, entry: LogEntry, max_len: int) -> None:
        """addACLLogEntry: a similar recent entry is bumped to the front, else the entry is
        added and the log trimmed to `max_len`."""
        log = self.log
        for i, current in enumerate(log[:LOG_SCAN_ENTRIES]):
            if (
                current.reason == entry.reason
                and current.context == entry.context
                and abs(current.ctime_ms - entry.ctime_ms) <= LOG_GROUPING_MS
                and current.object == entry.object
                and current.username == entry.username
            ):
                del log[i]
                current.client_info = entry.client_info
                current.ctime_ms = entry.ctime_ms
                current.count += 1
                log.insert(0, current)
                return
        log.insert(0, entry)
        del log[max_len:]

    def config_text(self) -> bytes:
        """Every user as an aclfile / ACL LIST line, by name."""
        return b"".join(b"user " + name + b" " + self.users[name].describe() + b"\n" for name in sorted(self.users))

    def parse_file(self, text: bytes, filename: str) -> dict[bytes, User]:
        """ACLLoadFromFile's validation: the users the file defines (the default user
        included only if defined); raises ValueError with Redis's error text."""
        errors = ""
        users: dict[bytes, User] = {}
        for number, raw_line in enumerate(text.split(b"\n"), 1):
            line = raw_line.strip(b" \t\r\n")
            if not line:
                continue
            argv = [word for word in line.split(b" ") if word]
            if not argv:
                continue
            if argv[0] != b"user" or len(argv) < 2:
                errors += f"{filename}:{number} should start with user keyword followed by the username. "
                continue
            name = argv[1]
            if has_spaces(name):
                errors += f"'{filename}:{number}: username '{name.decode('latin-1')}' contains invalid characters. "
                continue
            if name in users:
                errors += f"WARNING: Duplicate user '{name.decode('latin-1')}' found on line {number}. "
                continue
            user = User.create(name, self.pubsub_default_all)
            users[name] = user
            try:
                ops = merge_selectors(argv[2:])
            except ValueError:
                errors += f"{filename}:{number}: Unmatched parenthesis in selector definition."
                continue
            syntax_error = False
            for op in ops:
                op = op.strip(b"\t\r\n")
                try:
                    user.apply(op, self.pubsub_default_all)
                except RuleError as exc:
                    if exc.reason == ERR_UNKNOWN:
                        errors += f"{filename}:{number}: Error in applying operation '{op.decode('latin-1')}': {exc.reason}. "
                    elif not syntax_error:
                        errors += f"{filename}:{number}: {exc.reason}. "
                        syntax_error = True
            user.refresh()
        if errors:
            raise ValueError(errors + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed")
        return users

    def load_at_startup(self, configured: list[list[bytes]], filename: str, directory: str) -> None:
        """ACLLoadUsersAtStartup: the config file's `user` lines, or the aclfile (not both);
        raises ConfigError with the reason the server does not start."""
        if configured and filename:
            raise ConfigError(
                "Configuring Redis with users defined in redis.conf and at the same setting an ACL file "
                "path is invalid. This setup is very likely to lead to configuration errors and security "
                "holes, please define either an ACL file or declare users directly in your redis.conf, "
                "but not both."
            )
        seen: set[bytes] = set()
        for name, *rules in configured:
            if name in seen:
                raise ConfigError(f"Error in user declaration '{name.decode('latin-1')}': Duplicate user found. "
                                  "A user can only be defined once in config files")
            seen.add(name)
            if has_spaces(name):
                raise ConfigError("Spaces not allowed in ACL usernames")
            user = self.users.get(name)
            if user is None:
                user = self.users[name] = User.create(name, self.pubsub_default_all)
            else:
                user.apply(b"reset", self.pubsub_default_all)
            try:
                for op in merge_selectors(rules):
                    user.apply(op, self.pubsub_default_all)
            except ValueError as exc:
                raise ConfigError(f"Unmatched parenthesis in acl selector starting at '{exc.args[0].decode('latin-1')}'.") from None
            except RuleError as exc:
                raise ConfigError(
                    f"Error loading ACL rule '{op.decode('latin-1')}' for the user named '{name.decode('latin-1')}': {exc.reason}"
                ) from None
            user.refresh()
        if filename:
            try:
                self.replace_users(self.parse_file(read_acl_file(filename, directory), filename))
            except ValueError as exc:
                raise ConfigError(f"Aborting Redis startup because of ACL errors: {exc}") from None

    def replace_users(self, users: dict[bytes, User]) -> list[User]:
        """Make `users` the set of users (ACL LOAD): the default user object stays (sessions
        refer to it) and takes the new rules; returns the users that no longer exist, whose
        clients are disconnected."""
        new_default = users.pop(b"default", None) or self._new_default()
        self.default.copy_rules(new_default)
        gone = [user for name, user in self.users.items() if name != b"default"]
        self.users = {b"default": self.default, **users}
        return gone


class SetUserError(Exception):
    def __init__(self, op: bytes, reason: str) -> None:
        super().__init__(reason)
        self.op = op
        self.reason = reason


def read_acl_file(filename: str, directory: str) -> bytes:
    """The aclfile's bytes (a relative name is in `dir`, where Redis runs); raises ValueError
    with Redis's text when it cannot be opened."""
    try:
        with open(os.path.join(directory, filename), "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ValueError(f"Error loading ACLs, opening file '{filename}': {exc.strerror}") from None


def write_acl_file(filename: str, directory: str, text: bytes) -> bool:
    """ACLSaveToFile: write a temporary file and rename it over the aclfile; False on error."""
    path = os.path.join(directory, filename)
    temporary = f"{path}.tmp-{os.getpid()}-{int(time.time() * 1000)}"
    try:
        with open(temporary, "wb") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("Writing ACL file for ACL SAVE: %s", exc.strerror)
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return False
    return True


def generate_password_hex(bits: int) -> str:
    """ACL GENPASS: `bits` random bits as hex, rounded up to whole hex digits."""
    chars = (bits + 3) // 4
    return os.urandom((chars + 1) // 2).hex()[:chars]

