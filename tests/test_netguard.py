"""The address policy for article fetches: spellings, ranges, the allow-list, the config table."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import ArticleSettings, parse_config
from monitor.errors import ConfigError
from monitor.netguard import (
    AllowList,
    blocked_range,
    is_public,
    parse_allow_entry,
    parse_host,
    refusal,
)

LOOPBACK = IPv4Address("127.0.0.1")

# -- spellings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f.0x0.0.01", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("0.0.0.0", "0.0.0.0"),
        ("169.254.43518", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("4294967295", "255.255.255.255"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),  # IPv4-mapped: the IPv4 address it maps to
        ("[::ffff:7f00:1]", "127.0.0.1"),
        ("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe"),
        ("[FD00::1]", "fd00::1"),
    ],
)
def test_address_spellings(host: str, address: str) -> None:
    assert parse_host(host) == ip_address(address)


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("Example.COM", "example.com"),
        ("localhost.", "localhost"),
        ("a.b-c.example.", "a.b-c.example"),
        ("1.2.3.example", "1.2.3.example"),
        ("0x7f.example", "0x7f.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_name_spellings(host: str, name: str) -> None:
    assert parse_host(host) == name


@pytest.mark.parametrize(
    "host",
    [
        "1.2.3.4.5",  # ends in a number but has five parts
        "256.0.0.1",
        "1.2.3.256",
        "1.2.65536",
        "4294967296",
        "0x100000000",
        "08.0.0.1",  # 8 is not an octal digit
        "0x7g.0.0.1",
        "1..1",
        "1.2.3.4..",
        "",
        ".",
        "exa mple.com",
        "127.0.0.%31",
        "a..example",
        "[::1",
        "[127.0.0.1]",
        "::1::2",
        "१२७.0.0.1",  # non-ASCII digits
        "1_0.0.0.1",
    ],
)
def test_malformed_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError):
        parse_host(host)


@given(st.integers(0, 2**32 - 1), st.data())
def test_every_ipv4_spelling_agrees_with_inet_aton(value: int, data: st.DataObject) -> None:
    """Whatever dotted-number form a C resolver would accept means the same address here."""
    address = IPv4Address(value)
    octets = list(address.packed)
    parts = data.draw(st.integers(1, 4))
    numbers = [*octets[: parts - 1], int.from_bytes(bytes(octets[parts - 1 :]), "big")]
    spelled = []
    for n in numbers:
        style = data.draw(st.sampled_from(["dec", "hex", "HEX", "oct"]))
        spelled.append(
            {"dec": str(n), "hex": f"0x{n:x}", "HEX": f"0X{n:X}", "oct": f"0{n:o}"}[style]
        )
    host = ".".join(spelled)
    assert parse_host(host) == address
    assert socket.inet_aton(host) == address.packed


@given(st.ip_addresses(v=6))
def test_every_ipv6_spelling(address: IPv6Address) -> None:
    expected = address.ipv4_mapped or address
    for text in (str(address), address.exploded, address.exploded.upper()):
        assert parse_host(text) == expected
        assert parse_host(f"[{text}]") == expected


# -- ranges -----------------------------------------------------------------------------------

BAD_PROPERTIES = (
    "is_private",
    "is_loopback",
    "is_link_local",
    "is_multicast",
    "is_unspecified",
    "is_reserved",
)
# Special-purpose IPv4 ranges that Python 3.11's is_global still calls global.
V4_EXTRA = (IPv4Network("192.0.0.0/24"), IPv4Network("192.88.99.0/24"))
# ... and IPv6 ranges inside 2000::/3 (6to4 and the 2024 documentation prefix).
V6_EXTRA = (IPv6Network("2002::/16"), IPv6Network("3fff::/20"), IPv6Network("2001::/23"))
GLOBAL_UNICAST = IPv6Network("2000::/3")
NAT64 = IPv6Network("64:ff9b::/96")


@given(st.ip_addresses(v=4))
def test_ipv4_public_matches_the_ipaddress_module(address: IPv4Address) -> None:
    public = is_public(address)
    if public:
        assert address.is_global
        assert not any(getattr(address, name) for name in BAD_PROPERTIES)
    elif address.is_global and not address.is_multicast:
        assert any(address in net for net in V4_EXTRA)
    assert (blocked_range(address) is None) == public


@given(st.ip_addresses(v=4))
def test_embedded_ipv4_is_judged_by_the_ipv4_address(address: IPv4Address) -> None:
    mapped = IPv6Address(f"::ffff:{address}")
    nat64 = IPv6Address(int(NAT64.network_address) | int(address))
    assert is_public(mapped) == is_public(address)
    assert is_public(nat64) == is_public(address)


v6_addresses = st.one_of(
    st.ip_addresses(v=6),
    st.ip_addresses(network="2000::/3"),
    st.ip_addresses(network="64:ff9b::/96"),
    st.ip_addresses(network="::ffff:0:0/96"),
)


@given(v6_addresses)
def test_ipv6_public_matches_the_ipaddress_module(address: IPv6Address) -> None:
    public = is_public(address)
    if address.ipv4_mapped is not None:
        assert public == is_public(address.ipv4_mapped)
    elif address in NAT64:
        assert public == is_public(IPv4Address(int(address) & 0xFFFFFFFF))
    elif public:
        assert address in GLOBAL_UNICAST and address.is_global
        assert not any(getattr(address, name) for name in (*BAD_PROPERTIES, "is_site_local"))
    elif address in GLOBAL_UNICAST and address.is_global and not address.is_multicast:
        assert any(address in net for net in V6_EXTRA)


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("169.254.169.254", "link-local"),
        ("64:ff9b::a9fe:a9fe", "NAT64 of link-local"),
        ("fd00::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("192.168.1.1", "private"),
        ("172.31.255.255", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible form
        ("2002:7f00:1::", "6to4"),
        ("2001:0::7f00:1", "IETF protocol assignment"),  # Teredo
        ("198.51.100.7", "documentation"),
    ],
)
def test_blocked_ranges(address: str, label: str) -> None:
    assert blocked_range(ip_address(address)) == label


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"]
)
def test_public_addresses(address: str) -> None:
    assert is_public(ip_address(address))


# -- the allow-list ---------------------------------------------------------------------------


def test_allow_entries() -> None:
    allow = AllowList.parse(
        ["intranet.example", "*.corp.example", "10.1.0.0/16", "127.0.0.1:8080", "[fd00::1]:443"]
    )
    assert allow.admits_name("intranet.example", 80)
    assert not allow.admits_name("www.intranet.example", 80)
    assert allow.admits_name("wiki.corp.example", 443)
    assert not allow.admits_name("corp.example", 443)
    assert not allow.admits_name("evilcorp.example", 443)
    assert allow.admits_address(ip_address("10.1.200.3"), 80)
    assert not allow.admits_address(ip_address("10.2.0.1"), 80)
    assert allow.admits_address(LOOPBACK, 8080)
    assert not allow.admits_address(LOOPBACK, 8081)
    assert allow.admits_address(ip_address("fd00::1"), 443)


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("Intranet.Example.", "intranet.example"),
        ("127.1", "127.0.0.1/32"),
        ("::1", "::1/128"),
        ("[::ffff:10.0.0.1]", "10.0.0.1/32"),
        ("fd00::/8", "fd00::/8"),
    ],
)
def test_allow_entries_are_canonical(text: str, entry: str) -> None:
    parsed = parse_allow_entry(text)
    assert (parsed.name or str(parsed.network)) == entry


@pytest.mark.parametrize(
    "text",
    ["", "10.1.0.1/16", "10.0.0.0/33", "host:0", "host:99999", "host:http", "*.10.0.0.1",
     "[::1]x", "[::1", "bad host", "1.2.3.4.5", "a:b:c"],
)  # fmt: skip
def test_bad_allow_entries(text: str) -> None:
    with pytest.raises(ValueError):
        parse_allow_entry(text)


def test_refusal_checks_every_address() -> None:
    public, loopback = ip_address("93.184.215.14"), LOOPBACK
    nothing = AllowList()
    assert refusal("news.example", 80, [public], nothing) is None
    reason = refusal("news.example", 80, [public, loopback], nothing)
    assert reason is not None and "127.0.0.1" in reason and "loopback" in reason
    assert (
        refusal("intranet.example", 80, [public, loopback], AllowList.parse(["intranet.example"]))
        is None
    )
    assert refusal(loopback, 80, [loopback], AllowList.parse(["127.0.0.0/8"])) is None
    # never destinations, whatever the allow-list says
    everything = AllowList.parse(["0.0.0.0/0", "::/0", "any.example"])
    for never in ("0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "::ffff:0.0.0.0"):
        assert refusal("any.example", 80, [ip_address(never)], everything) is not None


# -- the [articles] table ---------------------------------------------------------------------


def test_articles_table() -> None:
    config = parse_config(
        {"articles": {"allow": ["intranet.example", "10.1.0.0/16"]}}, Path("c.toml")
    )
    assert config.articles == ArticleSettings(allow=("intranet.example", "10.1.0.0/16"))
    assert parse_config({}, Path("c.toml")).articles.allow == ()


@pytest.mark.parametrize(
    ("articles", "key", "message"),
    [
        ({"allow": "intranet.example"}, "articles.allow", "expected an array of strings"),
        ({"allow": ["ok.example", "10.1.0.1/16"]}, "articles.allow[1]", "has host bits set"),
        ({"allow": [3]}, "articles.allow[0]", "got 3 (not a string)"),
        ({"allow": ["host:99999"]}, "articles.allow[0]", 'got "host:99999"'),
        ({"deny": []}, "articles.deny", "unknown key"),
        ("yes", "articles", "expected a table"),
    ],
)
def test_articles_table_errors(articles: object, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"articles": articles}, Path("c.toml"))
    assert info.value.key == key
    assert message in info.value.detail
