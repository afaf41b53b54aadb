"""Where webhooks may go: the operator's allowlist of hosts, and the check of one webhook URL.

A job's webhook URL comes from the API caller, so without a check it would let any API key make
the server POST to an address of its choosing (an internal service, a cloud metadata endpoint).
The operator names the receiving hosts (ORIGINMARK_WEBHOOK_HOSTS); a URL is accepted only when:

- it is https (http only with ORIGINMARK_WEBHOOK_ALLOW_HTTP, and still only to allowlisted hosts:
  for a receiver on loopback or a private network the operator trusts);
- its host (and port, when the entry names one) is on the allowlist: "host", "host:port", or
  "*.example.com" (any subdomain of example.com, not example.com itself); IPv6 as "[::1]:8443";
- it carries no user name or password, no fragment, no whitespace or control characters, and
  is at most MAX_URL_LENGTH characters.

Host names are compared as written, never resolved: which addresses an allowlisted name points
to is the operator's DNS and the operator's decision. The check runs at submit (a refused URL is
a 422) and again before every delivery attempt, so shrinking the allowlist stops deliveries
already queued.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
_HOSTNAME = re.compile(r"^[a-z0-9_.-]{1,253}$")  # urlsplit lower-cases hostnames


class WebhookUrlRefused(Exception):
    """The webhook URL is not one this server may call; the message says why (for the caller)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class WebhookHost:
    host: str  # lower case, no trailing dot, IPv6 without brackets; "*.example.com" for subdomains
    port: int | None  # None: any port

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and len(host) > len(self.host) - 1
        return self.host == host

    @property
    def shown(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


def parse_host_entry(entry: str) -> WebhookHost:
    """ "host", "host:port", "*.domain", "[v6]:port"; ValueError for anything else."""
    text = entry.strip().lower()
    problem = f"webhook host {entry.strip()!r} is not a host, host:port or *.domain (e.g. hooks.example.com:8443)"
    wildcard = text.startswith("*.")
    try:
        parts = urlsplit("//" + (text[2:] if wildcard else text))
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(problem) from None
    if not host or "@" in text or "*" in text[2 if wildcard else 0 :] or parts.path or parts.query or parts.fragment:
        raise ValueError(problem)
    if not _HOSTNAME.match(host):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(problem) from None
        if wildcard:
            raise ValueError(problem)
    host = host.rstrip(".")
    return WebhookHost(host=f"*.{host}" if wildcard else host, port=port)


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookAllowlist:
    """The hosts webhooks may be sent to. Empty: none (webhooks effectively off)."""

    hosts: tuple[WebhookHost, ...] = ()
    allow_http: bool = False

    @classmethod
    def parse(cls, text: str, *, allow_http: bool = False) -> WebhookAllowlist:
        """Comma-separated entries (blank ones ignored); ValueError names a bad entry."""
        entries = tuple(dict.fromkeys(parse_host_entry(e) for e in text.split(",") if e.strip()))
        return cls(hosts=entries, allow_http=allow_http)

    @classmethod
    def from_settings(cls, settings) -> WebhookAllowlist:
        return cls.parse(settings.webhook_hosts, allow_http=settings.webhook_allow_http)

    def check(self, url: str) -> str:
        """`url` itself when it may be called; WebhookUrlRefused saying why otherwise."""
        if len(url) > MAX_URL_LENGTH:
            raise WebhookUrlRefused(f"webhook_url is longer than {MAX_URL_LENGTH} characters")
        if any(ord(c) <= 0x20 or ord(c) == 0x7F or not c.isprintable() for c in url):
            raise WebhookUrlRefused("webhook_url contains whitespace or control characters")
        if "\\" in url:
            # Parsers disagree on a backslash (WHATWG URLs read it as "/"): the host checked here
            # must be the host the request goes to.
            raise WebhookUrlRefused("webhook_url must not contain a backslash")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise WebhookUrlRefused("webhook_url is not a URL (its host or port cannot be read)") from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            raise WebhookUrlRefused("webhook_url must be an https:// URL")
        if scheme == "http" and not self.allow_http:
            raise WebhookUrlRefused("webhook_url must be https:// (this server does not send webhooks over plain http)")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise WebhookUrlRefused(
                "webhook_url must not carry a user name or password; authenticate with the signature"
            )
        if parts.fragment or url.endswith("#"):
            raise WebhookUrlRefused("webhook_url must not have a #fragment")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise WebhookUrlRefused("webhook_url has no host")
        effective_port = port or (443 if scheme == "https" else 80)
        if not any(entry.matches(host, effective_port) for entry in self.hosts):
            raise WebhookUrlRefused(
                f"webhook_url's host {_shown(host, port)} is not on this server's webhook allowlist; "
                "ask the operator to add it (ORIGINMARK_WEBHOOK_HOSTS)"
            )
        if _as_sent(url) != (scheme, host, effective_port):
            raise WebhookUrlRefused("webhook_url cannot be read unambiguously (its host or port)")
        return url


def _as_sent(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) as the HTTP client that delivers will read `url`."""
    import httpx  # only here: the settings validator imports this module

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.scheme, parsed.host.rstrip(".").lower(), port


def _shown(host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"
