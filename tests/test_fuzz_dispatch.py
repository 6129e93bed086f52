"""A short, deterministic run of the dispatcher fuzzer (tandemkv.cli.fuzz): every command of
the table with arguments from Redis's vocabulary must answer with an encodable reply and a
Redis-shaped error, never an exception. The long campaign is `python -m tandemkv.cli.fuzz`."""

from __future__ import annotations

from tandemkv.cli.fuzz import Findings, campaign, check_reply, fuzzable_specs
from tandemkv.protocol import Error


def test_short_campaign_finds_no_problem() -> None:
    findings = list(campaign(20_000, seed=7))[-1]  # the same object, updated batch by batch
    assert findings.calls == 20_000
    assert findings.problems == []
    assert 0 < findings.errors < findings.calls  # both answers and errors were exercised


def test_every_command_is_fuzzed() -> None:
    names = {spec.full_name for spec in fuzzable_specs()}
    assert {"set", "lpush", "blpop", "config|set", "multi", "exec", "sort"} <= names
    assert "shutdown" not in names and "debug" not in names


def test_problems_are_reported() -> None:
    findings = Findings()
    check_reply([b"X"], Error("not redis-shaped"), findings)
    check_reply([b"X"], object(), findings)
    check_reply([b"X"], Error("ERR fine"), findings)
    assert len(findings.problems) == 2 and findings.errors == 2
