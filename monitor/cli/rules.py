"""Commands about topics: ``monitor rules check|test`` and ``monitor match``."""

from __future__ import annotations

import io
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import click

from monitor.cli.common import archive_of, config_option, load, since_start
from monitor.config import Config
from monitor.rules import Document, RuleError, RuleSet, check_rules_against_config, load_rules
from monitor.rules.engine import CompiledTopic
from monitor.text.normalize import read_story
from monitor.text.pagetext import page_paragraphs, read_page_text
from monitor.types import Match, Story, TermHit
from monitor.units import plural

SAMPLES = 3


def rule_set(config: Config, *, routing: bool = True) -> RuleSet:
    """The compiled rules, checked against the configuration; any error ends the command.

    Without ``routing`` (commands that only try rules out, and send nothing), what the
    configuration lacks (a notifier, a feed a topic names) is a warning.
    """
    rules, errors, unrouted = checked_rules(config)
    for error in errors:
        click.echo(str(error), err=True)
    for error in unrouted:
        click.echo(str(error) if routing else f"warning: {error}", err=True)
    if routing:
        errors += unrouted
    if errors:
        raise click.ClickException(f"{plural(len(errors), 'error')} in the rule files")
    return rules


def checked_rules(config: Config) -> tuple[RuleSet, list[RuleError], list[RuleError]]:
    """The rules that compile; the compile errors; and what the configuration lacks."""
    rules, errors = load_rules(config.rules_path)
    return rules, errors, check_rules_against_config(rules, config)


@click.group()
def rules() -> None:
    """Check topic rule files, or backtest them against the archive."""


@rules.command("check")
@config_option
def rules_check(config_path: Path) -> None:
    """List every error in the rule files; exit non-zero if there is any."""
    config = load(config_path)
    compiled = rule_set(config)
    click.echo(f"{config.rules_path}: OK ({plural(len(compiled.topics), 'topic')})")


def story_document(story: Story, config: Config) -> Document:
    names = set(story.sources)
    tags = {t for f in config.feeds if f.name in names for t in f.tags}
    urls = {f.url for f in config.feeds if f.name in names}
    return Document.of(story.headline, story.body, feeds=names | urls, tags=tags)


@rules.command("test")
@config_option
@click.argument("topic", required=False)
@click.option("--since", default="30d", show_default=True, help="How far back to look.")
def rules_test(config_path: Path, topic: str | None, since: str) -> None:
    """Backtest the rules: per topic, hits in the archive and sample stories (id and
    headline: `monitor show ID` prints one)."""
    config = load(config_path)
    compiled = rule_set(config, routing=False)
    if topic is not None and compiled.topic(topic) is None:
        raise click.ClickException(f"no topic named {topic!r}")
    start = since_start(since)
    if start is None:  # --since ""
        raise click.BadParameter('expected a duration like "30d", got ""')
    hits: Counter[str] = Counter()
    samples: dict[str, list[str]] = defaultdict(list)
    with archive_of(config) as archive:
        total = archive.count_stories(since=start)
        with click.progressbar(
            archive.iter_stories(since=start),
            length=total,
            label="matching",
            file=sys.stderr if sys.stderr.isatty() else io.StringIO(),
        ) as bar:
            for story in bar:
                for m in compiled.match(story_document(story, config), explain_matches=False):
                    if topic is None or m.topic == topic:
                        hits[m.topic] += 1
                        if len(samples[m.topic]) < SAMPLES:
                            samples[m.topic].append(f"{story.id}  {story.headline}")
    zone = config.schedule.zone
    click.echo(
        f"{plural(total, 'story', 'stories')} first seen since {start.astimezone(zone):%Y-%m-%d}"
    )
    for compiled_topic in compiled.topics:
        name = compiled_topic.topic.name
        if topic is not None and name != topic:
            continue
        click.echo(f"{name}: {plural(hits[name], 'hit')}")
        for sample in samples[name]:
            click.echo(f"    {sample}")


def read_story_file(path: Path, *, page: bool = False) -> tuple[str, str]:
    """Headline and body of a story-format .txt file, or of page text (.html, or ``page``).

    A story-format file reads exactly: its first paragraph is the headline, every other
    one is body. Page text has its headline found and its chrome left out by shape.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in (".html", ".htm"):
        headline, body = read_page_text("\n\n".join(page_paragraphs(text)))
    elif page:
        headline, body = read_page_text(text)
    else:
        headline, body = read_story(text)
    return headline, "\n\n".join(body)


def highlight(text: str, spans: list[tuple[int, int]], *, color: bool) -> str:
    out = []
    last = 0
    for start, end in sorted(spans):
        if start < last:
            continue
        term = text[start:end]
        out.append(text[last:start])
        out.append(click.style(term, fg="yellow", bold=True) if color else f"[{term}]")
        last = end
    out.append(text[last:])
    return "".join(out)


def _windows(body: str, hits: list[TermHit], width: int = 80) -> list[tuple[int, int]]:
    """Stretches of body text around each hit, merging hits that are close together."""
    lines: list[tuple[int, int]] = []
    for hit in hits:
        start = max(0, hit.span[0] - width // 2)
        end = min(len(body), hit.span[1] + width // 2)
        if lines and start <= lines[-1][1]:
            lines[-1] = (lines[-1][0], max(end, lines[-1][1]))
        else:
            lines.append((start, end))
    return lines


def _print_match(headline: str, body: str, m: Match, *, color: bool) -> None:
    click.echo(f"  {click.style(m.topic, bold=True) if color else m.topic}")
    title_spans = [h.span for h in m.terms if h.field == "title"]
    if title_spans:
        click.echo(f"    title: {highlight(headline, title_spans, color=color)}")
    body_hits = [h for h in m.terms if h.field == "body"]
    for a, b in _windows(body, body_hits):
        spans = [(h.span[0] - a, h.span[1] - a) for h in body_hits if a <= h.span[0] < b]
        excerpt = highlight(body[a:b].replace("\n", " "), spans, color=color)
        click.echo(f"    body:  {'… ' if a else ''}{excerpt}{' …' if b < len(body) else ''}")


@click.command()
@config_option
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line.")
@click.option(
    "--page",
    is_flag=True,
    help="Read .txt files as text copied off a web page: find the headline, leave out chrome.",
)
@click.option(
    "--feed",
    "feed_names",
    multiple=True,
    metavar="NAME",
    help="Match as if this configured feed (name or URL) carried the story; repeatable.",
)
@click.option(
    "--tag", "tags", multiple=True, metavar="TAG", help="Match as if from a feed with this tag."
)
def match(
    config_path: Path,
    files: tuple[Path, ...],
    as_json: bool,
    page: bool,
    feed_names: tuple[str, ...],
    tags: tuple[str, ...],
) -> None:
    """Show which topics story files (.txt in story format, or .html pages) match, and why.

    A .txt file is read as the story format: its first paragraph is the headline. Topics
    limited to some feeds or tags match only a story from them: say which with --feed
    or --tag.
    """
    config = load(config_path)
    compiled = rule_set(config, routing=False)
    names, feed_tags = _sources(config, feed_names, tags)
    color = sys.stdout.isatty() and not as_json
    for path in files:
        headline, body = read_story_file(path, page=page)
        doc = Document.of(headline, body, feeds=names, tags=feed_tags)
        matches = compiled.match(doc)
        # Topics the story would match but for the feeds or tags they are limited to.
        limited = [t for t in compiled.topics if not t.accepts_source(doc) and t.predicate(doc)]
        if as_json:
            record = {
                "path": str(path),
                "headline": headline,
                "body": body,  # spans of "body" terms index into this text
                "topics": [
                    {
                        "name": m.topic,
                        "terms": [
                            {"term": h.term, "field": h.field, "span": list(h.span)}
                            for h in m.terms
                        ],
                        "snippet": m.snippet,
                    }
                    for m in matches
                ],
                "skipped": [
                    {"name": t.topic.name, "feeds": list(t.topic.feeds), "tags": list(t.topic.tags)}
                    for t in limited
                ],
            }
            click.echo(json.dumps(record, ensure_ascii=False))
            continue
        found = ", ".join(m.topic for m in matches) or (
            "no topics" if not limited else "no topics from where this story comes"
        )
        click.echo(f"{path}: {headline!r}: {found}")
        for m in matches:
            _print_match(headline, body, m, color=color)
        if limited:
            click.echo(
                f"  skipped, limited to other feeds or tags: {_limits(limited)} "
                "(--feed NAME or --tag TAG to match as if from one)"
            )


def _sources(
    config: Config, feed_names: tuple[str, ...], tags: tuple[str, ...]
) -> tuple[set[str], set[str]]:
    """The feed names and URLs, and the tags, a story from these feeds and tags has."""
    names: set[str] = set()
    found_tags = set(tags)
    for wanted in feed_names:
        feeds = [f for f in config.feeds if wanted in (f.name, f.url)]
        if not feeds:
            known = ", ".join(sorted({f.name for f in config.feeds})) or "none configured"
            raise click.BadParameter(
                f"no feed named {wanted!r} (known: {known})", param_hint="--feed"
            )
        for feed in feeds:
            names |= {feed.name, feed.url}
            found_tags |= set(feed.tags)
    known_tags = {t for f in config.feeds for t in f.tags}
    for tag in tags:
        if tag not in known_tags:
            known = ", ".join(sorted(known_tags)) or "none"
            raise click.BadParameter(
                f"no feed has the tag {tag!r} (known: {known})", param_hint="--tag"
            )
    return names, found_tags


def _limits(topics: list[CompiledTopic]) -> str:
    out = []
    for t in topics:
        scope = [f"feeds {', '.join(t.topic.feeds)}"] if t.topic.feeds else []
        scope += [f"tags {', '.join(t.topic.tags)}"] if t.topic.tags else []
        out.append(f"{t.topic.name} ({'; '.join(scope)})")
    return ", ".join(out)
