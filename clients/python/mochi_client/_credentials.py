"""Who the client is and whom it trusts: the API key sent with every call, and
TLS on the connection.

A server that requires API keys wants ``authorization: Bearer <token>`` as the
metadata of every ``mochi.v1`` call. A CA file makes the connection TLS: the
server's certificate must be signed by that CA; a client certificate and its
key (both or neither) answer a server that asks for one (mutual TLS). Each
setting defaults to the environment, under the names the HTTP bridge reads
for its own channel to the server.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass

from grpclib.client import Channel
from grpclib.events import SendRequest, listen

API_KEY_ENV = "MOCHI_API_KEY"
CA_FILE_ENV = "MOCHI_GRPC_TLS_CA_FILE"
CERT_FILE_ENV = "MOCHI_GRPC_TLS_CERT_FILE"
KEY_FILE_ENV = "MOCHI_GRPC_TLS_KEY_FILE"
SERVER_NAME_ENV = "MOCHI_GRPC_TLS_SERVER_NAME"
AUTHORIZATION_METADATA = "authorization"

Setting = str | os.PathLike[str] | None


def setting(value: Setting, env: str) -> str | None:
    """The value given, else the environment's; "" (given or set) means none."""
    if value is None:
        value = os.environ.get(env)
    return (os.fspath(value) or None) if value is not None else None


def resolve_api_key(value: str | None) -> str | None:
    """The token to send (``$MOCHI_API_KEY`` when ``value`` is None); None: send none."""
    token = setting(value, API_KEY_ENV)
    token = token.strip() if token is not None else None
    if not token:
        return None
    if not (token.isascii() and token.isprintable()) or " " in token:
        raise ValueError(
            f"the API key (api_key / {API_KEY_ENV}) has characters a header cannot carry"
        )
    return token


def send_api_key(channel: Channel, token: str) -> None:
    """Add ``authorization: Bearer <token>`` to every call made on ``channel``."""
    value = f"Bearer {token}"

    async def authorize(event: SendRequest) -> None:
        event.metadata[AUTHORIZATION_METADATA] = value

    listen(channel, SendRequest, authorize)


@dataclass(frozen=True)
class Tls:
    """A TLS connection: the PEM files and the name the server's certificate
    must carry (None: the target's host)."""

    ca_file: str | None = None  # None: the system's CAs
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the CA and shows the certificate, for grpclib."""
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"cannot read the CA file {self.ca_file!r}: {error}") from error
        if self.cert_file is not None:
            try:
                context.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ssl.SSLError) as error:
                raise ValueError(
                    f"cannot load the client certificate {self.cert_file!r} with its key "
                    f"{self.key_file!r}: {error}"
                ) from error
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["h2"])  # gRPC runs on HTTP/2, which TLS must agree on
        return context


def tls_settings(
    tls: bool | None,
    ca_file: Setting,
    cert_file: Setting,
    key_file: Setting,
    server_name: str | None,
) -> Tls | None:
    """The TLS of the connection, None for plaintext.

    ``tls`` None: TLS when there is a CA file. True: TLS, trusting the CA file
    if any, else the system's CAs. False: plaintext, whatever the environment.
    """
    if tls is False:
        _refuse("ssl=False", ca_file, cert_file, key_file, server_name)
        return None
    settings = Tls(
        setting(ca_file, CA_FILE_ENV),
        setting(cert_file, CERT_FILE_ENV),
        setting(key_file, KEY_FILE_ENV),
        setting(server_name, SERVER_NAME_ENV),
    )
    # Half a setting must stop the start: connecting without it would be a
    # silent downgrade, or fail later and less clearly.
    if (settings.cert_file is None) != (settings.key_file is None):
        given, missing = (
            (f"cert_file ({CERT_FILE_ENV})", f"key_file ({KEY_FILE_ENV})")
            if settings.key_file is None
            else (f"key_file ({KEY_FILE_ENV})", f"cert_file ({CERT_FILE_ENV})")
        )
        raise ValueError(f"{given} is set but {missing} is not: a client certificate needs its key")
    if tls is None and settings.ca_file is None:
        for what, value in (
            (f"cert_file ({CERT_FILE_ENV})", settings.cert_file),
            (f"server_name ({SERVER_NAME_ENV})", settings.server_name),
        ):
            if value is not None:
                raise ValueError(
                    f"{what} needs ca_file ({CA_FILE_ENV}), the CA that signed the server's "
                    "certificate: without it the connection is plaintext (ssl=True trusts "
                    "the system's CAs instead)"
                )
        return None
    return settings


def tls_context(
    tls: ssl.SSLContext | bool | None,
    ca_file: Setting,
    cert_file: Setting,
    key_file: Setting,
    server_name: str | None,
) -> tuple[ssl.SSLContext | None, str | None]:
    """The SSLContext of a grpclib connection (None: plaintext) and the name to
    expect in the server's certificate; a context given is used as it is."""
    if isinstance(tls, ssl.SSLContext):
        _refuse("an SSLContext", ca_file, cert_file, key_file)
        return tls, server_name or None
    settings = tls_settings(tls, ca_file, cert_file, key_file, server_name)
    if settings is None:
        return None, None
    return settings.ssl_context(), settings.server_name


def _refuse(what: str, *settings: Setting) -> None:
    if any(settings):
        raise ValueError(f"{what} leaves no use for the TLS settings (ca_file, cert_file, ...)")
