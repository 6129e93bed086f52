"""What CLIENT LIST and the ACL LOG say about a client."""

from __future__ import annotations

from tandemkv.commands.session import Session


def client_type(session: Session) -> str:
    return "pubsub" if session.subscriptions else "normal"


_POINTER_BYTES = 8  # Redis counts a pointer per argument next to the arguments' lengths


def client_info_line(session: Session, now_ms: int, caller: Session | None = None) -> str:
    """One CLIENT LIST line in Redis 7.0.15's field order (no trailing newline).

    Filled as Redis fills them: qbuf (bytes received and not parsed yet; for the caller, its
    command too, as a multibulk), argv-mem (the lengths
    of the arguments of the command being run -- the caller's, or a blocked one's), multi-mem
    (those of the queued MULTI commands, a pointer each besides), omem (output not sent yet).
    tot-mem is their sum: tandemkv's own, without Redis's allocator and struct sizes. There is
    no fixed reply buffer (rbs, rbp), and qbuf-free, obl and oll have no counterpart: 0.
    """
    flags = (
        ("O" if session in session.instance.monitors else "")
        + ("P" if session.subscriptions else "")
        + ("x" if session.multi is not None else "")
        + ("b" if session.blocked is not None else "")
        + ("d" if session.cas_dirty else "")
        + ("e" if session.no_evict else "")
    ) or "N"
    running = session is caller or session.blocked is not None
    argv_mem = sum(map(len, session.argv)) if running else 0
    multi_mem = sum(sum(map(len, argv)) + _POINTER_BYTES * len(argv) for _, argv in session.multi or ())
    qbuf = session.input_buffer_size()
    if session is caller:  # Redis's query buffer still holds the command being run
        qbuf += len(b"*%d\r\n" % len(session.argv)) + sum(len(b"$%d\r\n\r\n" % len(a)) + len(a) for a in session.argv)
    omem = session.output_buffer_size()
    tot_mem = qbuf + omem + multi_mem + (argv_mem + _POINTER_BYTES * len(session.argv) if running else 0)
    age_s = (now_ms - session.created_ms) // 1000
    idle_s = (now_ms - session.last_interaction_ms) // 1000
    return (
        f"id={session.id} addr={session.addr} laddr={session.laddr} fd={session.fd} "
        f"name={session.name.decode('latin-1')} age={age_s} idle={idle_s} flags={flags} "
        f"db={session.db_index} sub={len(session.channels)} psub={len(session.patterns)} "
        f"ssub={len(session.shard_channels)} multi={-1 if session.multi is None else len(session.multi)} qbuf={qbuf} qbuf-free=0 "
        f"argv-mem={argv_mem} multi-mem={multi_mem} rbs=0 rbp=0 obl=0 oll=0 omem={omem} tot-mem={tot_mem} events=r "
        f"cmd={session.last_spec.full_name if session.last_spec else 'NULL'} user={session.user.name.decode('latin-1')} redir=-1 resp={session.resp}"
    )
