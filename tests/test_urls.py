import pytest

from monitor.urls import canonical_url, story_id


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "HTTPS://News.Example.ORG:443/a?utm_source=rss&id=3#top",
            "https://news.example.org/a?id=3",
        ),
        ("http://example.org:80", "http://example.org/"),
        ("http://example.org:8080/x?fbclid=1&gclid=2", "http://example.org:8080/x"),
        ("https://user:pw@example.org/a", "https://example.org/a"),
        ("https://example.org/a?b=2&a=1", "https://example.org/a?b=2&a=1"),
        ("https://example.org./a", "https://example.org/a"),
        ("tag:example.org,2002:x", "tag:example.org,2002:x"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_story_id_is_16_lowercase_hex() -> None:
    value = story_id("https://example.org/a")
    assert len(value) == 16 and all(c in "0123456789abcdef" for c in value)
    assert value == story_id("https://example.org/a")
