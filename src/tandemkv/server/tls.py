"""TLS: the `tls-*` settings as an ssl.SSLContext for the TLS listener (Redis 7.0 tls.c).

The server listens on `tls-port` beside `port` (or alone, with `port 0`); a connection on it
runs the same Connection code once its handshake is over. A client that does not complete the
handshake (plain text on the TLS port, a missing or untrusted certificate under
`tls-auth-clients yes`) is closed by the transport without reaching the dispatcher.

CONFIG SET of a `tls-*` setting builds a new context from all the settings first: if that fails
(a missing file, a bad key) the CONFIG SET fails and nothing changes, as Redis's applyTlsCfg.
Otherwise the TLS listener is reopened with it; connections already open keep their session.
"""

from __future__ import annotations

import logging
import ssl

from tandemkv.config import Config, ConfigError

log = logging.getLogger("tandemkv.server")

TLS_SETTINGS = (
    "tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-ca-cert-file", "tls-ca-cert-dir",
    "tls-dh-params-file", "tls-auth-clients", "tls-protocols", "tls-ciphers", "tls-prefer-server-ciphers",
)
_VERSIONS = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}
_NO_VERSION = {
    ssl.TLSVersion.TLSv1: ssl.OP_NO_TLSv1,
    ssl.TLSVersion.TLSv1_1: ssl.OP_NO_TLSv1_1,
    ssl.TLSVersion.TLSv1_2: ssl.OP_NO_TLSv1_2,
    ssl.TLSVersion.TLSv1_3: ssl.OP_NO_TLSv1_3,
}
_VERIFY = {"yes": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "no": ssl.CERT_NONE}
APPLY_FAILED = "Unable to update TLS configuration. Check server logs."


class TlsError(Exception):
    """The settings do not make a working TLS context; the message says why."""


def server_context(config: Config) -> ssl.SSLContext:
    """A server context from the tls-* settings; TlsError with the reason if they fail."""
    cert_file = config.str("tls-cert-file")
    key_file = config.str("tls-key-file")
    if not cert_file or not key_file:
        raise TlsError("tls-cert-file and tls-key-file are required")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        password = config.str("tls-key-file-pass") or None
        context.load_cert_chain(cert_file, key_file, password=password)
        ca_file = config.str("tls-ca-cert-file") or None
        ca_dir = config.str("tls-ca-cert-dir") or None
        auth = config.str("tls-auth-clients")
        if ca_file or ca_dir:
            context.load_verify_locations(cafile=ca_file, capath=ca_dir)
        elif auth != "no":
            raise TlsError("either tls-ca-cert-file or tls-ca-cert-dir must be specified")
        context.verify_mode = _VERIFY[auth]
        dh_file = config.str("tls-dh-params-file")
        if dh_file:
            context.load_dh_params(dh_file)
        ciphers = config.str("tls-ciphers")
        if ciphers:
            context.set_ciphers(ciphers)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TlsError(str(exc)) from None
    _set_protocols(context, config.str("tls-protocols"))
    if config["tls-prefer-server-ciphers"]:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


def _set_protocols(context: ssl.SSLContext, spec: str) -> None:
    """tls-protocols: the versions named (Redis's default when empty: TLSv1.2 and TLSv1.3)."""
    names = spec.lower().split() or ["tlsv1.2", "tlsv1.3"]
    chosen = []
    for name in names:
        if name not in _VERSIONS:
            raise TlsError(
                "Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'."
            )
        chosen.append(_VERSIONS[name])
    context.minimum_version = min(chosen)
    context.maximum_version = max(chosen)
    for version, option in _NO_VERSION.items():  # a gap inside the range (TLSv1.1 TLSv1.3)
        if min(chosen) < version < max(chosen) and version not in chosen:
            context.options |= option


def checked_context(config: Config) -> ssl.SSLContext:
    """`server_context` for CONFIG SET: a failure is logged and refuses the change."""
    try:
        return server_context(config)
    except TlsError as exc:
        log.warning("Failed to configure TLS: %s", exc)
        raise ConfigError(APPLY_FAILED) from None
