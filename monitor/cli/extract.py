"""``monitor extract FILE.html...``: the article extractor, offline."""

from __future__ import annotations

import json
from pathlib import Path

import click

from monitor.articles.extract import extract_article
from monitor.text.normalize import format_story


@click.command("extract")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--url", help="The page's address (resolves relative links; a hint for extraction).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line.")
def extract(files: tuple[Path, ...], url: str | None, as_json: bool) -> None:
    """Extract the article of saved web pages: story format, or JSON lines with --json."""
    for i, path in enumerate(files):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise click.ClickException(f"{path}: {exc.strerror or exc}") from exc
        article = extract_article(data, url=url)
        if as_json:
            record = {
                "path": str(path),
                "headline": article.headline,
                "body": article.body,
                "published": article.published.isoformat() if article.published else None,
                "author": article.author,
            }
            click.echo(json.dumps(record, ensure_ascii=False))
            continue
        if i:
            click.echo()  # a blank line between stories
        click.echo(format_story(article.headline, article.paragraphs), nl=False)
