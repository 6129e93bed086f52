"""What CLIENT LIST and the ACL LOG say about a client."""

from __future__ import annotations

from tandemkv.commands.session import Session


def client_type(session: Session) -> str:
    return "pubsub" if session.subscriptions else "normal"


def client_info_line(session: Session, now_ms: int) -> str:
    """One CLIENT LIST line in Redis 7.0.15's field order (no trailing newline).

    Buffer and memory fields are plausible constants: connections keep no Redis-style buffers.
    """
    flags = (
        ("O" if session in session.instance.monitors else "")
        + ("P" if session.subscriptions else "")
        + ("x" if session.multi is not None else "")
        + ("b" if session.blocked is not None else "")
        + ("d" if session.cas_dirty else "")
        + ("e" if session.no_evict else "")
    ) or "N"
    age_s = (now_ms - session.created_ms) // 1000
    idle_s = (now_ms - session.last_interaction_ms) // 1000
    return (
        f"id={session.id} addr={session.addr} laddr={session.laddr} fd={session.fd} "
        f"name={session.name.decode('latin-1')} age={age_s} idle={idle_s} flags={flags} "
        f"db={session.db_index} sub={len(session.channels)} psub={len(session.patterns)} "
        f"ssub={len(session.shard_channels)} multi={-1 if session.multi is None else len(session.multi)} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 "
        f"rbs=0 rbp=0 obl=0 oll=0 omem={session.output_buffer_size()} tot-mem=0 events=r "
        f"cmd={session.last_spec.full_name if session.last_spec else 'NULL'} user={session.user.name.decode('latin-1')} redir=-1 resp={session.resp}"
    )
