"""Sends a partner's webhook POST: the one place that does, and safe against SSRF.

A partner's URL, requested from inside our network, could reach what only we can: the metadata
server (169.254.169.254 hands out this service's credentials), loopback and private services.
So the host is resolved once, every address checked, and the connection made to a checked
address, never the name: DNS rebinding (public to the check, private to the connect) finds no
second lookup; TLS verifies the certificate against the URL's name. No redirect is followed, a
bounded part of the reply is read, and a timer shuts the socket down at the deadline.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

# The port's types, re-exported: callers catch the one WebhookRefusedError, whichever name they import.
from trackscan.domain.errors import WebhookRefusedError as WebhookRefusedError
from trackscan.domain.ports import WebhookReply as WebhookReply
from trackscan.domain.step_deadline import time_left

ALLOWED_PORTS = (443,)
# The metadata server's names, refused before any lookup and even with allow_loopback.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
# Shared address space (RFC 6598): the carrier's side of a NAT, never a partner's server.
CGNAT = ipaddress.ip_network("100.64.0.0/10")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


@dataclass(frozen=True)
class _Target:
    hostname: str  # lowercase, no brackets, no trailing dot: SNI and the certificate check use it
    host_header: str  # host[:port] as the URL spells it
    port: int
    tls: bool
    path: str
    addresses: tuple[IPAddress, ...]  # every one checked, in the resolver's order


def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address the system resolver gives host for TCP, in order; socket.gaierror if none."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)  # IPv4 and IPv6 only
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_webhook_url(url: str, *, allow_loopback: bool, resolve: Resolver = resolve_addresses) -> None:
    """Checks that post_webhook would send to url (registration calls it; sending checks again).

    Args:
        url: the partner's webhook URL.
        allow_loopback: accept loopback addresses, and then http and any port (the dev stack).
        resolve: (host, port) -> addresses; the system resolver unless a test passes its own.

    Raises:
        WebhookRefusedError: the scheme, port, userinfo, host name or an address is refused, or
            the host does not resolve (a name that cannot be checked is not registered).
    """
    try:
        _checked_target(url, allow_loopback, resolve)
    except OSError as exc:
        raise WebhookRefusedError(f"{urlsplit(url).hostname} does not resolve: {exc}") from exc


@dataclass(frozen=True)
class SafeWebhookSender:
    """The WebhookSender port: check_webhook_url and post_webhook with these options (bootstrap's)."""

    allow_loopback: bool
    timeout_s: float = 5.0
    max_reply_bytes: int = 64 * 1024
    resolve: Resolver = resolve_addresses
    tls_context: ssl.SSLContext | None = None

    def check(self, url: str) -> None:
        """As check_webhook_url: raises WebhookRefusedError for a URL post would refuse."""
        check_webhook_url(url, allow_loopback=self.allow_loopback, resolve=self.resolve)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookReply:
        """As post_webhook: raises WebhookRefusedError, or OSError (TimeoutError...) to retry."""
        return post_webhook(url, body, headers, **vars(self))  # the fields are its options, by name


def post_webhook(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_loopback: bool,
    timeout_s: float = 5.0,
    max_reply_bytes: int = 64 * 1024,
    resolve: Resolver = resolve_addresses,
    tls_context: ssl.SSLContext | None = None,
) -> WebhookReply:
    """POSTs body to url over a connection to an address checked as check_webhook_url checks it.

    The checked addresses are tried in order until one connects. A Host header in headers is
    replaced by the URL's. At most max_reply_bytes of the reply body are read before closing.

    Args:
        url: the partner's webhook URL.
        body: the request body, sent as is.
        headers: request headers (Content-Type, a signature...).
        allow_loopback: as in check_webhook_url.
        timeout_s: the deadline of it all, or the step's where nearer (the lookup waits as the system's does).
        max_reply_bytes: the most of the reply body read.
        resolve: as in check_webhook_url.
        tls_context: verifies the server's certificate; the system's default trust unless given.

    Returns:
        The reply's status, whatever it is, and latency.

    Raises:
        WebhookRefusedError: as check_webhook_url; nothing was sent.
        TimeoutError: no reply's headers within timeout_s.
        OSError: the lookup, the connect, TLS (the certificate included) or the exchange failed,
            a ConnectionError when the reply is not HTTP: worth retrying later.
    """
    deadline = time.monotonic() + time_left(timeout_s, "sending a webhook")
    target = _checked_target(url, allow_loopback, resolve)
    send_headers = {k: v for k, v in headers.items() if k.lower() != "host"} | {"Host": target.host_header}
    watchdog = _Watchdog(deadline)
    connection, reply = _PinnedConnection(target.hostname, target.port), None
    try:
        started, connection.sock = _connect(target, watchdog)
        if target.tls:
            context = tls_context or ssl.create_default_context()
            # The URL's name, not the address: SNI and the certificate check use it.
            tls = context.wrap_socket(connection.sock, server_hostname=target.hostname, do_handshake_on_connect=False)
            connection.sock = watchdog.sock = tls  # it took over the plain socket's descriptor
            if watchdog.expired:  # while wrapping: it shut down the detached plain socket, to no effect
                raise TimeoutError("the deadline passed before the TLS handshake")
            tls.do_handshake()
        connection.request("POST", target.path, body=body, headers=send_headers)
        reply = connection.getresponse()
        latency_s = time.monotonic() - started
        if watchdog.expired:  # the shutdown ends a trickle of headers as if they were whole
            raise TimeoutError("the reply's headers were cut off")
        _read_some(reply, max_reply_bytes)
        return WebhookReply(status=reply.status, latency_s=latency_s)
    except (OSError, http.client.HTTPException) as exc:
        if watchdog.expired:
            raise TimeoutError(f"webhook {target.host_header}: no reply within {timeout_s:g} s") from exc
        if isinstance(exc, OSError):
            raise
        raise ConnectionError(f"webhook {target.host_header}: not an HTTP reply: {exc!r}") from exc
    finally:
        watchdog.disarm()  # first, so the timer never shuts a descriptor a close has freed
        if reply is not None:
            reply.close()
        connection.close()


def _checked_target(url: str, allow_loopback: bool, resolve: Resolver) -> _Target:
    """Parses url and resolves its host once, refusing what the rules do not allow."""
    parts, hostname, port = _parsed(url)
    https_443 = parts.scheme == "https" and port in ALLOWED_PORTS
    if not https_443 and not allow_loopback:  # refused before any lookup
        raise WebhookRefusedError(f"only https on ports {ALLOWED_PORTS}, not {parts.scheme} on {port}")
    addresses = _addresses(hostname, port, resolve)
    for address in addresses:
        if reason := _refusal(address, allow_loopback):
            raise WebhookRefusedError(f"{hostname} resolves to {address}, {reason}")
    if not https_443 and not all(_unmapped(address).is_loopback for address in addresses):
        raise WebhookRefusedError(f"{parts.scheme} on port {port} is for loopback only, and {hostname} is not")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(hostname, parts.netloc, port, parts.scheme == "https", path, addresses)


def _parsed(url: str) -> tuple[SplitResult, str, int]:
    """(the parts, the host name, the port) of url, refusing what no address could make right."""
    if not url.isascii() or any(ch.isspace() or ord(ch) < 0x20 or ch in "\\\x7f" for ch in url):
        raise WebhookRefusedError("the URL has spaces, control or non-ASCII characters (use the xn-- form)")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise WebhookRefusedError(f"the scheme must be https, not {parts.scheme or 'none'!r}")
    if "@" in parts.netloc:
        raise WebhookRefusedError("the URL may not carry a user name or password")
    if not parts.hostname:
        raise WebhookRefusedError("the URL has no host")
    hostname = parts.hostname.rstrip(".")
    if hostname in METADATA_HOSTS:
        raise WebhookRefusedError(f"{hostname} is the metadata server")
    try:
        return parts, hostname, parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookRefusedError(f"the port is not a port number: {exc}") from exc


def _addresses(hostname: str, port: int, resolve: Resolver) -> tuple[IPAddress, ...]:
    with suppress(ValueError):  # a literal address is its own answer: no lookup
        return (ipaddress.ip_address(hostname),)
    found = tuple(ipaddress.ip_address(address) for address in resolve(hostname, port))
    if not found:
        raise OSError(f"{hostname} resolves to no address")
    return found


def _unmapped(address: IPAddress) -> IPAddress:
    # ::ffff:a.b.c.d reaches the IPv4 address a.b.c.d: judged as that.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address if mapped is None else mapped


def _refusal(address: IPAddress, allow_loopback: bool) -> str | None:
    """Why address may not be sent to (the first of _ADDRESS_RULES that holds), or None if it may."""
    address = _unmapped(address)
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    for reason, refused in _ADDRESS_RULES:
        if refused(address):
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None:
        # 2002:a.b.c.d::/48 is relayed to a.b.c.d, and 6to4 is never how loopback is reached.
        inner = _refusal(address.sixtofour, allow_loopback=False)
        return f"a 6to4 address of {address.sixtofour}, {inner}" if inner else None
    return None


_ADDRESS_RULES: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("a link-local address (the metadata server's range)", lambda a: a.is_link_local),
    ("the unspecified address", lambda a: a.is_unspecified),
    ("a multicast address", lambda a: a.is_multicast),
    ("a shared (CGNAT) address", lambda a: a in CGNAT),
    ("a reserved or broadcast address", lambda a: a.is_reserved),
    ("a private address", lambda a: a.is_private),
    ("a site-local address", lambda a: isinstance(a, ipaddress.IPv6Address) and a.is_site_local),
    ("not a globally routable address", lambda a: not a.is_global),
)


def _connect(target: _Target, watchdog: _Watchdog) -> tuple[float, socket.socket]:
    """(when the connect started, the socket) of the first checked address that connects."""
    last_error: OSError | None = None
    for index, address in enumerate(target.addresses):
        started = time.monotonic()
        if started >= watchdog.deadline:
            break
        try:
            # A share of what is left, so one address that drops packets leaves time for the next.
            share = (watchdog.deadline - started) / (len(target.addresses) - index)
            sock = socket.create_connection((str(address), target.port), timeout=share)
        except OSError as exc:
            last_error = exc
            continue
        sock.settimeout(max(watchdog.deadline - time.monotonic(), 0.001))
        watchdog.sock = sock
        return started, sock
    message = f"webhook {target.host_header}: no connection to {', '.join(map(str, target.addresses))}"
    if last_error is None or isinstance(last_error, TimeoutError):
        raise TimeoutError(message) from last_error
    raise ConnectionError(f"{message}: {last_error}") from last_error


def _read_some(reply: http.client.HTTPResponse, max_bytes: int) -> None:
    # The status is what counts: a bounded part of the body is read only so the peer sees it taken.
    left = max_bytes
    with suppress(OSError, http.client.HTTPException):
        while left > 0 and (chunk := reply.read1(min(left, 16 * 1024))):
            left -= len(chunk)


class _PinnedConnection(http.client.HTTPConnection):
    """An exchange over a socket connected to a checked address; never one connected by name."""

    def connect(self) -> None:  # http.client's, by name, would be the second lookup rebinding needs
        raise ConnectionError("a pinned webhook connection does not reconnect")


class _Watchdog:
    """Shuts its socket down at the deadline, waking any send or read blocked on it."""

    def __init__(self, deadline: float) -> None:
        self.deadline, self.expired = deadline, False
        self.sock: socket.socket | None = None  # the one to shut down; swapped for its TLS wrapper
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        self._timer.cancel()
        with self._lock:
            self.sock = None

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self.sock is not None:
                # A plain shutdown, of a TLS socket too: wakes the blocked call, its TLS state untouched.
                with suppress(OSError):
                    socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
