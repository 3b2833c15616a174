"""The webhook sender's SSRF rules, on URLs, and its exchange, against real servers on loopback."""

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from trackscan.adapters.webhook_sender import (
    ALLOWED_PORTS,
    SafeWebhookSender,
    WebhookRefusedError,
    WebhookReply,
    check_webhook_url,
    post_webhook,
)
from trackscan.domain import errors, ports

PUBLIC = "93.184.215.14"  # a globally routable address; never connected to


def _resolving(*addresses):
    """A resolver answering every name with addresses (what a partner's DNS could answer)."""
    return lambda host, port: list(addresses)


def _never(host, port):
    raise AssertionError(f"looked {host} up: the URL should be refused before any lookup")


# (URL, what a name resolves to, a word of the reason). Names resolve to PUBLIC unless the case is
# about what they resolve to, so each URL is refused for the one reason it stands for.
REFUSED = [
    ("http://example.com/", [PUBLIC], "only https"),
    ("https://example.com:8443/", [PUBLIC], "8443"),
    ("ftp://example.com/", [PUBLIC], "scheme"),
    ("https://127.0.0.1/", [PUBLIC], "loopback"),
    ("https://[::1]/", [PUBLIC], "loopback"),
    ("https://10.0.0.1/", [PUBLIC], "private"),
    ("https://172.16.5.4/", [PUBLIC], "private"),
    ("https://192.168.1.1/", [PUBLIC], "private"),
    ("https://169.254.169.254/", [PUBLIC], "link-local"),
    ("https://metadata.google.internal/", [PUBLIC], "metadata server"),
    ("https://METADATA.Google.Internal./", [PUBLIC], "metadata server"),
    ("https://metadata/", [PUBLIC], "metadata server"),
    ("https://[fd00::1]/", [PUBLIC], "private"),
    ("https://[fe80::1]/", [PUBLIC], "link-local"),
    ("https://100.64.0.1/", [PUBLIC], "CGNAT"),
    ("https://224.0.0.1/", [PUBLIC], "multicast"),
    ("https://[ff02::1]/", [PUBLIC], "multicast"),
    ("https://0.0.0.0/", [PUBLIC], "unspecified"),
    ("https://[::]/", [PUBLIC], "unspecified"),
    ("https://255.255.255.255/", [PUBLIC], "broadcast"),
    ("https://[::ffff:127.0.0.1]/", [PUBLIC], "loopback"),
    ("https://[::ffff:169.254.169.254]/", [PUBLIC], "link-local"),
    ("https://[2002:a9fe:a9fe::1]/", [PUBLIC], "6to4"),
    ("https://[64:ff9b::a9fe:a9fe]/", [PUBLIC], "reserved"),
    ("https://[fec0::1]/", [PUBLIC], "site-local"),
    ("https://user:pw@example.com/", [PUBLIC], "user name"),
    ("https://example.com@10.0.0.1/", [PUBLIC], "user name"),
    ("https:///hook", [PUBLIC], "no host"),
    ("https://example.com:99999/", [PUBLIC], "port"),
    ("https://example.com:0/", [PUBLIC], "on 0"),
    ("https://exa mple.com/", [PUBLIC], "spaces"),
    ("https://partner.example/", ["169.254.169.254"], "link-local"),
    ("https://partner.example/", [PUBLIC, "10.0.0.7"], "private"),
    ("https://partner.example/", ["2606:4700::1111", "::ffff:10.0.0.7"], "private"),
]


@pytest.mark.parametrize(("url", "addresses", "reason"), REFUSED)
def test_check_webhook_url_refuses_when_the_url_is_hostile(url, addresses, reason):
    with pytest.raises(WebhookRefusedError, match=reason):
        check_webhook_url(url, allow_loopback=False, resolve=_resolving(*addresses))


@pytest.mark.parametrize("url", ["https://localhost/", "https://127.1/", "https://2130706433/", "https://0x7f000001/"])
def test_check_webhook_url_refuses_when_the_system_resolver_answers_loopback(url):
    with pytest.raises(WebhookRefusedError, match="loopback"):
        check_webhook_url(url, allow_loopback=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://example.com:8443/",
        "https://user:pw@example.com/",
        "https://metadata.google.internal/",
    ],
)
def test_check_webhook_url_refuses_before_any_lookup_when_the_url_alone_is_refused(url):
    with pytest.raises(WebhookRefusedError):
        check_webhook_url(url, allow_loopback=False, resolve=_never)


@pytest.mark.parametrize(
    "url",
    [
        "https://partner.example/hook?id=1",
        "https://partner.example:443/",
        f"https://{PUBLIC}/",
        "https://[2606:4700::1111]/",
    ],
)
def test_check_webhook_url_accepts_when_https_443_reaches_only_public_addresses(url):
    assert ALLOWED_PORTS == (443,)
    check_webhook_url(url, allow_loopback=False, resolve=_resolving(PUBLIC, "2606:4700::1111"))


def _unknown(host, port):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize("resolve", [_unknown, _resolving()], ids=["unknown", "no-address"])
def test_webhook_url_is_refused_to_register_but_retried_to_send_when_the_name_does_not_resolve(resolve):
    with pytest.raises(WebhookRefusedError, match="does not resolve"):
        check_webhook_url("https://partner.example/", allow_loopback=False, resolve=resolve)
    with pytest.raises(OSError) as raised:  # sending: perhaps a passing DNS failure, so worth a retry
        post_webhook("https://partner.example/", b"{}", {}, allow_loopback=False, resolve=resolve)
    assert not isinstance(raised.value, WebhookRefusedError)


def test_webhook_sender_speaks_the_domains_types_when_imported():
    # deliver catches trackscan.domain.errors.WebhookRefusedError: this module must raise that very class.
    assert WebhookRefusedError is errors.WebhookRefusedError and WebhookReply is ports.WebhookReply
    assert not issubclass(WebhookRefusedError, errors.PermanentError)  # a refused webhook never fails a track


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://127.0.0.1:8080/hook", []),
        ("http://partner.test:8080/hook", ["127.0.0.1", "::1"]),
        ("https://[::1]:9443/", []),
        ("https://partner.example/", [PUBLIC]),
    ],
)
def test_check_webhook_url_accepts_loopback_on_any_scheme_and_port_when_loopback_is_allowed(url, addresses):
    check_webhook_url(url, allow_loopback=True, resolve=_resolving(*addresses))


@pytest.mark.parametrize(
    ("url", "addresses", "reason"),
    [
        ("https://169.254.169.254/", [], "link-local"),
        ("http://169.254.169.254/", [], "link-local"),
        ("https://[::ffff:169.254.169.254]/", [], "link-local"),
        ("http://metadata.google.internal/", ["127.0.0.1"], "metadata server"),
        ("http://partner.test:8080/", ["127.0.0.1", "10.0.0.1"], "private"),
        ("http://partner.example/", [PUBLIC], "loopback only"),
        ("https://partner.example:8443/", [PUBLIC], "loopback only"),
        ("http://[2002:7f00:1::]:8080/", [], "6to4"),
    ],
)
def test_check_webhook_url_refuses_beyond_loopback_when_loopback_is_allowed(url, addresses, reason):
    with pytest.raises(WebhookRefusedError, match=reason):
        check_webhook_url(url, allow_loopback=True, resolve=_resolving(*addresses))


# --- the exchange, against servers on loopback ---


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@pytest.fixture
def serve():
    """Starts loopback HTTP(S) servers answering each POST with answer(handler, stop); stops them after."""
    stop = threading.Event()
    servers = []

    def start(answer, tls=None):
        seen: list[Seen] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # the name http.server calls
                body = self.rfile.read(int(self.headers["Content-Length"]))
                seen.append(Seen(self.path, dict(self.headers.items()), body))
                try:
                    answer(self, stop)
                except OSError:
                    pass  # the sender closed early, as it should on a huge or slow reply
                self.close_connection = True

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server.server_address[1], seen

    yield start
    stop.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def _status(code, **headers):
    def answer(handler, stop):
        handler.send_response(code)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def _post(port, *, path="/hook", host="127.0.0.1", **options):
    options.setdefault("allow_loopback", True)
    return post_webhook(f"http://{host}:{port}{path}", b'{"track": 1}', {"Content-Type": "application/json"}, **options)


def test_post_webhook_delivers_the_exact_body_and_headers_when_the_server_answers_200(serve):
    port, seen = serve(_status(200))
    body = b'{"track_id": "t1", "state": "DONE"}'
    headers = {"Content-Type": "application/json", "X-Trackscan-Signature": "sha256=abc", "host": "evil.example"}
    started = time.monotonic()
    reply = post_webhook(f"http://127.0.0.1:{port}/hooks/a?x=1", body, headers, allow_loopback=True)
    assert reply.status == 200 and 0 <= reply.latency_s <= time.monotonic() - started
    [request] = seen
    assert request.path == "/hooks/a?x=1" and request.body == body
    assert request.headers["Host"] == f"127.0.0.1:{port}"  # the URL's, never the caller's
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Trackscan-Signature"] == "sha256=abc"
    assert request.headers["Content-Length"] == str(len(body))


def test_post_webhook_returns_the_status_when_the_server_answers_500(serve):
    port, _ = serve(_status(500))
    assert _post(port).status == 500


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "/again"])
def test_post_webhook_returns_a_redirect_unfollowed_when_the_server_redirects(serve, location):
    port, seen = serve(_status(302, Location=location))
    assert _post(port).status == 302
    assert [request.path for request in seen] == ["/hook"]


def test_post_webhook_raises_timeout_within_the_deadline_when_the_server_never_answers():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts, nobody answers
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            _post(silent.getsockname()[1], timeout_s=0.5)
    assert time.monotonic() - started < 3


def test_post_webhook_raises_timeout_when_the_server_trickles_its_headers(serve):
    def trickle_headers(handler, stop):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        give_up = time.monotonic() + 3  # so a sender without a deadline fails here, not hangs
        while not stop.wait(0.05) and time.monotonic() < give_up:  # no socket timeout ever fires
            handler.wfile.write(b"a")
        handler.wfile.write(b"\r\nContent-Length: 0\r\n\r\n")

    port, _ = serve(trickle_headers)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        _post(port, timeout_s=0.5)
    assert time.monotonic() - started < 3


def test_post_webhook_returns_the_status_at_the_deadline_when_the_server_trickles_its_body(serve):
    def trickle_body(handler, stop):
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        give_up = time.monotonic() + 3
        while not stop.wait(0.05) and time.monotonic() < give_up:
            handler.wfile.write(b"a")

    port, _ = serve(trickle_body)
    started = time.monotonic()
    assert _post(port, timeout_s=0.5).status == 200
    assert time.monotonic() - started < 3


def test_post_webhook_reads_a_bounded_part_when_the_reply_declares_50_mb(serve):
    finished, done = [], threading.Event()

    def huge(handler, stop):
        try:
            handler.send_response(200)
            handler.send_header("Content-Length", str(50 << 20))
            handler.end_headers()
            for _ in range(800):  # 800 x 64 KiB = 50 MiB
                handler.wfile.write(b"x" * (64 << 10))
            finished.append(True)
        finally:
            done.set()

    port, _ = serve(huge)
    started = time.monotonic()
    assert _post(port, timeout_s=30, max_reply_bytes=64 * 1024).status == 200
    assert time.monotonic() - started < 3
    assert done.wait(5) and not finished  # the sender closed long before the 50 MB


def test_post_webhook_reads_a_bounded_part_when_the_reply_never_ends(serve):
    def endless(handler, stop):
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"x" * (16 << 10)
        while not stop.is_set():
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    port, _ = serve(endless)
    started = time.monotonic()
    assert _post(port, timeout_s=30).status == 200  # read whole, it would take the 30 s
    assert time.monotonic() - started < 3


def test_post_webhook_resolves_once_and_connects_to_the_checked_address_when_the_name_rebinds(serve):
    port, seen = serve(_status(204))
    lookups = []

    def rebinding(host, port):
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["169.254.169.254"]

    assert _post(port, host="partner.test", resolve=rebinding).status == 204
    assert lookups == ["partner.test"]
    [request] = seen  # the checked address got it
    assert request.headers["Host"] == f"partner.test:{port}"


def test_post_webhook_tries_the_next_checked_address_when_one_refuses_the_connection(serve):
    port, seen = serve(_status(200))  # on 127.0.0.1 only: 127.0.0.2 refuses
    assert _post(port, host="partner.test", resolve=_resolving("127.0.0.2", "127.0.0.1")).status == 200
    assert len(seen) == 1
    with pytest.raises(ConnectionError):
        _post(port, host="partner.test", resolve=_resolving("127.0.0.2"))


def test_post_webhook_refuses_before_connecting_when_loopback_is_not_allowed(serve):
    port, seen = serve(_status(200))
    with pytest.raises(WebhookRefusedError):
        _post(port, allow_loopback=False)
    with pytest.raises(WebhookRefusedError):
        _post(port, host="partner.test", allow_loopback=False, resolve=_resolving("127.0.0.1"))
    assert seen == []


def test_safe_webhook_sender_applies_its_rules_when_checking_and_posting(serve):
    port, seen = serve(_status(202))
    url = f"http://partner.test:{port}/hook"
    loopback = SafeWebhookSender(allow_loopback=True, resolve=_resolving("127.0.0.1"))
    loopback.check(url)
    assert loopback.post(url, b"{}", {"content-type": "application/json"}).status == 202
    strict = SafeWebhookSender(allow_loopback=False, resolve=_resolving("127.0.0.1"))
    with pytest.raises(WebhookRefusedError):
        strict.check(url)
    with pytest.raises(WebhookRefusedError):
        strict.post(url, b"{}", {})
    assert len(seen) == 1


# --- TLS: the certificate and SNI are checked against the URL's name, not the address ---


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """(a CA's PEM, the certificate and key files of partner.test signed by it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(name, key, issuer, issuer_key, extensions):
        builder = x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(key.public_key())
        builder = builder.serial_number(x509.random_serial_number())
        builder = builder.not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test webhook CA")])
    ca_usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
    ca = certificate(
        ca_name, ca_key, ca_name, ca_key, [(x509.BasicConstraints(ca=True, path_length=None), True), (ca_usage, True)]
    )
    leaf_extensions = [
        (x509.SubjectAlternativeName([x509.DNSName("partner.test")]), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
    ]
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partner.test")])
    leaf = certificate(leaf_name, leaf_key, ca_name, ca_key, leaf_extensions)
    folder = tmp_path_factory.mktemp("tls")
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "leaf.key").write_bytes(key_pem)
    return ca.public_bytes(serialization.Encoding.PEM).decode(), folder / "leaf.pem", folder / "leaf.key"


@pytest.fixture
def tls_server(serve, certificates):
    """(port, requests seen, SNI names seen) of an HTTPS server on loopback for partner.test."""
    _, cert_file, key_file = certificates
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    names: list[str | None] = []
    context.sni_callback = lambda tls, name, ctx: names.append(name)
    port, seen = serve(_status(200), tls=context)
    return port, seen, names


def test_post_webhook_verifies_tls_against_the_urls_name_when_connecting_to_its_address(tls_server, certificates):
    port, seen, names = tls_server
    trust = ssl.create_default_context(cadata=certificates[0])
    reply = post_webhook(
        f"https://partner.test:{port}/hook",
        b"{}",
        {},
        allow_loopback=True,
        resolve=_resolving("127.0.0.1"),
        tls_context=trust,
    )
    assert reply.status == 200
    assert names == ["partner.test"]
    assert seen[0].headers["Host"] == f"partner.test:{port}"


@pytest.mark.parametrize(("name", "trusted"), [("other.test", True), ("partner.test", False)])
def test_post_webhook_raises_a_certificate_error_when_the_certificate_does_not_match(
    tls_server, certificates, name, trusted
):
    port, seen, _ = tls_server
    trust = ssl.create_default_context(cadata=certificates[0]) if trusted else None  # else the system's
    with pytest.raises(ssl.SSLCertVerificationError):
        post_webhook(
            f"https://{name}:{port}/hook",
            b"{}",
            {},
            allow_loopback=True,
            resolve=_resolving("127.0.0.1"),
            tls_context=trust,
        )
    assert seen == []
