"""Canonical story URLs and story ids."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only track the reader; they never change the page.
_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_", "__hs", "_hs", "oly_", "vero_")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid",
        "mc_cid", "mc_eid", "mkt_tok", "_ga", "_gl", "ncid", "cmpid", "ito", "ocid", "spm",
        "ref_src", "ref_url", "smid", "smtyp", "cid", "at_medium", "at_campaign", "rss",
        "s_kwcid", "ns_source", "ns_mchannel", "ns_campaign", "ns_linkname", "ns_fee",
        "sr_share", "share", "xtor", "guccounter", "guce_referrer", "guce_referrer_sig",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The URL with scheme and host lowercased, default port, fragment and trackers removed.

    Remaining query parameters keep their order: some sites give it meaning.
    Anything that is not an http(s) URL is returned stripped but otherwise unchanged.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return url
    host = parts.hostname.rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query, doseq=True), ""))


def feed_key(url: str) -> str:
    """The form in which two spellings of one feed URL are the same.

    Scheme and host in lower case, no default port, no fragment; path and query as
    written (unlike ``canonical_url``: a feed's query parameters select the feed).
    Anything that is not an http(s) URL is returned unchanged.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return url
    host = parts.hostname.rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username is not None:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def without_userinfo(url: str) -> str:
    """``url`` without ``user:password@``: the base that a feed's relative links resolve
    against, so the feed's credentials never become part of a story's link."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:end]
    if "@" not in authority:
        return url
    return f"{scheme}://{authority.rpartition('@')[2]}{rest[end:]}"


def story_id(key: str) -> str:
    """16 lowercase hex digits identifying the story whose canonical URL (or GUID) is ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
