"""Which addresses a fetch of a feed-supplied URL may connect to: pure policy, no I/O.

An address is *public* when it is global unicast: not loopback, private, link-local,
carrier-grade NAT, unique-local, multicast, unspecified, documentation, benchmarking or
otherwise reserved. The ranges come from the IANA special-purpose registries and are listed
here rather than taken from ``ipaddress.is_global``, whose answers change between Python
versions (3.11 calls ``64:ff9b::a9fe:a9fe``, NAT64 for 169.254.169.254, global). IPv4
embedded in IPv6 is judged by the IPv4 address: an IPv4-mapped address is that IPv4 address
(a dual-stack socket connects there), a NAT64 address (``64:ff9b::/96``) is public only when
the IPv4 address it translates to is. Other IPv6 outside ``2000::/3`` is not allocated for
unicast and is refused.

Hosts are read the way a C resolver would read them, so odd spellings cannot slip past:
``2130706433``, ``0x7f000001``, ``0177.0.0.1`` and ``127.1`` are all 127.0.0.1 (the WHATWG
URL / ``inet_aton`` forms), ``[::ffff:127.0.0.1]`` is 127.0.0.1 too, a trailing dot is
dropped, and ``localhost`` names (RFC 6761) are loopback without asking DNS.

The allow-list (``[articles] allow`` in config) admits intranet sources: host names
(``intranet.example``, ``*.corp.example`` for sub-domains), addresses and networks
(``10.1.0.0/16``), a name or address optionally with a port (``127.0.0.1:8080``). Unspecified,
multicast and broadcast addresses are never destinations, allow-listed or not.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

_V4_RANGES = (
    ("0.0.0.0/32", "unspecified"),
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)
_V6_RANGES = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignment"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "SRv6 segment identifier"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
_V4 = tuple((IPv4Network(net), label) for net, label in _V4_RANGES)
_V6 = tuple((IPv6Network(net), label) for net, label in _V6_RANGES)
_GLOBAL_UNICAST = IPv6Network("2000::/3")
_NAT64 = IPv6Network("64:ff9b::/96")
_BROADCAST = IPv4Address("255.255.255.255")
_LOOPBACK = (IPv4Address("127.0.0.1"), IPv6Address("::1"))

_DIGITS = {8: frozenset("01234567"), 10: frozenset("0123456789"), 16: frozenset("0123456789abcdef")}
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def canonical(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it maps to; others unchanged."""
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def blocked_range(ip: IPAddress) -> str | None:
    """The special range that makes ``ip`` non-public (e.g. "loopback"), or None if public."""
    ip = canonical(ip)
    if isinstance(ip, IPv4Address):
        return next((label for net, label in _V4 if ip in net), None)
    if ip in _NAT64:
        inner = blocked_range(IPv4Address(int(ip) & 0xFFFFFFFF))
        return None if inner is None else f"NAT64 of {inner}"
    label = next((label for net, label in _V6 if ip in net), None)
    if label is None and ip not in _GLOBAL_UNICAST:
        return "reserved"
    return label


def is_public(ip: IPAddress) -> bool:
    """True for a global unicast address that any site on the internet could have."""
    return blocked_range(ip) is None


def never_destination(ip: IPAddress) -> bool:
    """Unspecified, multicast or broadcast: not a place to connect to, allow-listed or not."""
    ip = canonical(ip)
    return ip.is_unspecified or ip.is_multicast or ip == _BROADCAST


# -- host spellings ---------------------------------------------------------------------------


def parse_host(host: str) -> IPAddress | str:
    """The address ``host`` spells, or its canonical name (lower case, no trailing dot).

    Raises ValueError for a host that is neither: a malformed IPv6 literal, a dotted name
    ending in a number that is not a valid IPv4 spelling (``1.2.3.4.5``, ``08.1``), or a
    name with characters DNS names do not have.
    """
    if host.startswith("[") and host.endswith("]"):
        return canonical(IPv6Address(host[1:-1]))
    if ":" in host:
        return canonical(IPv6Address(host))
    name = host.lower()
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    if _is_number(labels[-1]):
        return _legacy_ipv4(labels)
    if len(name) > 253 or not all(
        0 < len(label) <= 63 and set(label) <= _NAME_CHARS for label in labels
    ):
        raise ValueError(f"not a valid host name: {host!r}")
    return name


def loopback_name(name: str) -> bool:
    """``localhost`` and its sub-domains, which always mean this machine (RFC 6761)."""
    return name == "localhost" or name.endswith(".localhost")


def name_addresses(name: str) -> tuple[IPAddress, ...] | None:
    """The fixed addresses of a special-use name (loopback for ``localhost``), else None."""
    return _LOOPBACK if loopback_name(name) else None


def _is_number(part: str) -> bool:
    """Whether a dotted host's last part makes it an IPv4 address (WHATWG 'ends in a number')."""
    if part[:2] in ("0x", "0X"):
        return set(part[2:].lower()) <= _DIGITS[16]
    return part != "" and set(part) <= _DIGITS[10]


def _number(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        base, digits = 16, part[2:].lower() or "0"
    elif len(part) > 1 and part.startswith("0"):
        base, digits = 8, part[1:]
    else:
        base, digits = 10, part
    if not digits or not set(digits) <= _DIGITS[base]:
        raise ValueError(f"not an IPv4 number: {part!r}")
    return int(digits, base)


def _legacy_ipv4(parts: Sequence[str]) -> IPv4Address:
    """``a``, ``a.b``, ``a.b.c`` or ``a.b.c.d``, each decimal, octal or hex, read as inet_aton."""
    if len(parts) > 4:
        raise ValueError(f"too many parts for an IPv4 address: {'.'.join(parts)!r}")
    numbers = [_number(part) for part in parts]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"IPv4 part out of range: {'.'.join(parts)!r}")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return IPv4Address(value)


# -- the allow-list ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class AllowEntry:
    """One allow-list entry: a host name (or ``*.`` sub-domains) or a network, maybe a port."""

    name: str | None = None
    subdomains: bool = False  # "*.corp.example": any name under corp.example
    network: IPNetwork | None = None
    port: int | None = None

    def admits_name(self, name: str, port: int) -> bool:
        if self.name is None or self.port not in (None, port):
            return False
        return name.endswith("." + self.name) if self.subdomains else name == self.name

    def admits_address(self, ip: IPAddress, port: int) -> bool:
        return self.network is not None and self.port in (None, port) and ip in self.network


def parse_allow_entry(text: str) -> AllowEntry:
    """Read ``intranet.example``, ``*.corp.example``, ``10.1.0.0/16``, ``[fd00::1]:8443``...

    Raises ValueError saying what is wrong.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty entry")
    if "/" in text:
        return AllowEntry(network=ipaddress.ip_network(text))  # strict: no host bits set
    host, port = _split_port(text)
    subdomains = host.startswith("*.")
    target = parse_host(host[2:] if subdomains else host)
    if isinstance(target, str):
        return AllowEntry(name=target, subdomains=subdomains, port=port)
    if subdomains:
        raise ValueError(f"'*.' goes before a host name, not an address: {text!r}")
    return AllowEntry(network=ipaddress.ip_network(target), port=port)


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"expected [IPv6] or [IPv6]:port, got {text!r}")
        return host, _port(rest[1:]) if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port(port)
    return text, None  # a name, an IPv4 address, or a bare IPv6 address


def _port(text: str) -> int:
    if not (text and set(text) <= _DIGITS[10] and 0 < int(text) < 65536):
        raise ValueError(f"not a port number: {text!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class AllowList:
    entries: tuple[AllowEntry, ...] = ()

    @classmethod
    def parse(cls, texts: Iterable[str]) -> AllowList:
        return cls(tuple(parse_allow_entry(text) for text in texts))

    def admits_name(self, name: str, port: int) -> bool:
        return any(entry.admits_name(name, port) for entry in self.entries)

    def admits_address(self, ip: IPAddress, port: int) -> bool:
        return any(entry.admits_address(ip, port) for entry in self.entries)


def refusal(
    host: IPAddress | str, port: int, addresses: Iterable[IPAddress], allow: AllowList
) -> str | None:
    """Why ``host`` may not be reached at ``addresses`` on ``port``, or None if it may.

    Every address must pass (a name resolving to one public and one loopback address is
    refused): public, or admitted by the allow-list through the host name or the address.
    """
    by_name = isinstance(host, str) and allow.admits_name(host, port)
    via = f" ({host} resolves to it)" if isinstance(host, str) else ""
    for ip in map(canonical, addresses):
        label = blocked_range(ip)
        if label is None:
            continue
        if never_destination(ip):
            return f"{ip} is never a destination ({label}){via}"
        if not (by_name or allow.admits_address(ip, port)):
            return f"{ip} is not a public address ({label}){via}; [articles] allow can admit it"
    return None
