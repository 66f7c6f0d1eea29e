from __future__ import annotations

from pathlib import Path

from monitor.text.pagetext import page_paragraphs, read_page_text

SEEDS = Path(__file__).parent / "fixtures" / "seeds"


def seed(prefix: str) -> str:
    return next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")


def test_seed_1994_headline_and_body_without_chrome() -> None:
    headline, body = read_page_text(seed("000"))
    assert headline == "China Ready to Resume Talks on Human Rights"
    assert body[0].startswith("BEIJING -- In a surprise announcement")
    assert body[-1].endswith("given its strength as an export power.")
    text = "\n".join(body)
    for chrome in ("Get the latest updates", "Last Updated", "Watch CBS News"):
        assert chrome not in text
    assert len(body) == 11


def test_seed_2002_headline_and_body_without_chrome() -> None:
    headline, body = read_page_text(seed("003"))
    assert headline == "U.S., China To Resume Rights Talks"
    assert body[0].startswith("Washington and Beijing plan to resume discussions")
    assert body[-1].endswith("would visit China next week.")
    text = "\n".join(body)
    for chrome in ("View CBS News In", "CBS News App Open", "Chrome Safari Continue"):
        assert chrome not in text


def test_the_chrome_rule_is_general() -> None:
    page = (
        "Sign up for our newsletter today\n\n"
        "Posted 3:45 pm\n\n"
        "Storm Closes Harbour for Second Day\n\n"
        "High winds kept the harbour closed on Friday, the port authority said in a statement.\n\n"
        "Ferries will resume when the wind drops below gale force, officials said."
        "Download Our App\n\n"
        "Privacy Terms Contact\n\n"
        "Follow us"
    )
    headline, body = read_page_text(page)
    assert headline == "Storm Closes Harbour for Second Day"
    assert body == [
        "High winds kept the harbour closed on Friday, the port authority said in a statement.",
        "Ferries will resume when the wind drops below gale force, officials said.",
    ]


def test_short_lines_inside_the_story_are_body() -> None:
    # Figures, datelines and one-line paragraphs are content, even in page text.
    page = (
        "Coca-Cola sets quarterly dividend\n\n"
        "Qtly div 41-1/2 cts vs 41-1/2 cts prior\n\n"
        "Pay April 25\n\n"
        "Record March 31\n\n"
        "The company said the dividend was unchanged from the previous quarter.\n\n"
        "Updated 10:02 am\n\n"
        "Shares closed at 41 dollars, analysts said.\n\n"
        "Reporting by Jane Doe; editing by John Roe"
    )
    headline, body = read_page_text(page)
    assert headline == "Coca-Cola sets quarterly dividend"
    assert body == [
        "Qtly div 41-1/2 cts vs 41-1/2 cts prior",
        "Pay April 25",
        "Record March 31",
        "The company said the dividend was unchanged from the previous quarter.",
        "Updated 10:02 am",
        "Shares closed at 41 dollars, analysts said.",
        "Reporting by Jane Doe; editing by John Roe",
    ]


def test_page_html_leaves_out_navigation_and_furniture() -> None:
    html = (
        "<html><head><title>Site</title></head><body><nav>Home</nav>"
        '<div class="share-bar"><a href="#">Share</a></div><h1>Envoys Agree to Talks</h1>'
        "<p>The two governments agreed on Monday to hold talks.</p><aside>Related</aside>"
        "<footer>Privacy</footer></body></html>"
    )
    assert page_paragraphs(html) == [
        "Envoys Agree to Talks",
        "The two governments agreed on Monday to hold talks.",
    ]
