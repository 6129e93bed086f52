"""tandemkv-server [config-file] [--option value ...]: Redis-style arguments and config file.

    tandemkv-server                          # 127.0.0.1:6379, defaults
    tandemkv-server /etc/tandemkv.conf       # lines such as `port 6380`, `maxmemory 100mb`
    tandemkv-server --port 6380 --maxmemory 100mb --maxmemory-policy allkeys-lru

Command-line options override the file, as with redis-server.
"""

from __future__ import annotations

import logging
import os
import sys

from tandemkv.commands.session import TANDEMKV_VERSION, VERSION
from tandemkv.config import Config, ConfigError, describe_parameters, parse_config_text
from tandemkv.server import run
from tandemkv.server.app import LOG_LEVELS
from tandemkv.server.connection import VERBOSE

USAGE = __doc__ or ""


def parse_args(argv: list[str]) -> list[tuple[str, list[str]]]:
    """(name, values) directives from a config file and --options, file first."""
    directives: list[tuple[str, list[str]]] = []
    args = list(argv)
    if args and not args[0].startswith("--"):
        path = args.pop(0)
        with open(path, encoding="utf-8") as handle:
            directives.extend(parse_config_text(handle.read()))
    current: tuple[str, list[str]] | None = None
    for arg in args:
        if arg.startswith("--"):
            current = (arg[2:].lower(), [])
            directives.append(current)
        elif current is None:
            raise ValueError(f"Invalid argument '{arg}'")
        else:
            current[1].append(arg)
    return directives


def build_config(directives: list[tuple[str, list[str]]]) -> Config:
    config = Config()
    for name, values in directives:
        if name == "user":  # ACL users: checked and applied when the server starts
            if not values:
                raise ValueError("Bad directive or wrong number of arguments: 'user'")
            if any(user[0] == values[0].encode("latin-1") for user in config.users):
                raise ValueError(
                    f"Error in user declaration '{values[0]}': Duplicate user found. A user can only be "
                    "defined once in config files"
                )
            config.users.append([value.encode("latin-1") for value in values])
            continue
        if Config.param(name) is None:
            raise ValueError(f"Bad directive or wrong number of arguments: '{name}'")
        try:
            config.set(name, " ".join(values).encode("latin-1"), startup=True)
        except ConfigError as exc:
            raise ValueError(f"'{name} {' '.join(values)}': {exc.reason}") from None
    return config


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        print("Options (and config-file directives), with their defaults:\n")
        print(describe_parameters())
        return 0
    if args and args[0] in ("-v", "--version"):
        print(f"tandemkv-server v={TANDEMKV_VERSION} redis_version={VERSION}")
        return 0
    try:
        config = build_config(parse_args(args))
    except (OSError, ValueError) as exc:
        print(f"\n*** FATAL CONFIG FILE ERROR (tandemkv {TANDEMKV_VERSION}) ***\n{exc}", file=sys.stderr)
        return 1
    _setup_logging(config)
    return run(config)


class _RedisFormatter(logging.Formatter):
    """Redis's log line: the level as one mark, `.` debug, `-` verbose, `*` notice, `#` warning."""

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelno
        record.mark = "." if level < VERBOSE else "-" if level < logging.INFO else "*" if level < logging.WARNING else "#"
        return super().format(record)


def _setup_logging(config: Config) -> None:
    level = LOG_LEVELS[config.str("loglevel")]
    logfile = config.str("logfile")
    handler: logging.Handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler(sys.stdout)
    handler.setFormatter(_RedisFormatter(f"{os.getpid()}:M %(asctime)s.%(msecs)03d %(mark)s %(message)s", "%d %b %Y %H:%M:%S"))
    logger = logging.getLogger("tandemkv")
    logger.addHandler(handler)
    logger.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
