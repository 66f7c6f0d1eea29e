"""Writing stories out as story-format files named ``NNN_<id>.txt``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from monitor.text.normalize import format_story
from monitor.types import Story


def story_filename(number: int, story_id: str, *, width: int = 3) -> str:
    return f"{number:0{width}d}_{story_id}.txt"


INDEX = "index.jsonl"
# A story's topics by its seq (the archive's ``story_topics``).
Topics = Callable[[int], Sequence[str]]


def export_stories(
    stories: Iterable[Story],
    directory: Path,
    *,
    total: int,
    written: list[Path] | None = None,
    topics: Topics | None = None,
) -> int:
    """Write each story to ``directory``, numbered in archive order from 000; return the count.

    ``total`` sets the number width so that file names sort in archive order; ``written``
    gets each file's path as it is written. With ``topics``, ``index.jsonl`` beside them
    says what the story format leaves out: a line per file with the story's id, link,
    times, sources and the topics it matched.
    """
    directory.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(max(total - 1, 0))))
    count = 0
    with contextlib.ExitStack() as stack:
        index = None
        if topics is not None:
            index = stack.enter_context((directory / INDEX).open("w", encoding="utf-8"))
        for number, story in enumerate(stories):
            path = directory / story_filename(number, story.id, width=width)
            path.write_text(format_story(story.headline, story.paragraphs), encoding="utf-8")
            if written is not None:
                written.append(path)
            if index is not None and topics is not None:
                index.write(json.dumps(_record(path.name, story, topics(story.seq))) + "\n")
            count += 1
    return count


def _record(name: str, story: Story, topics: Sequence[str]) -> dict[str, object]:
    return {
        "file": name,
        "id": story.id,
        "url": story.url,
        "headline": story.headline,
        "published": story.published.isoformat(),
        "first_seen": story.first_seen.isoformat(),
        "sources": list(story.sources),
        "topics": list(topics),
        "content_source": story.content_source,
    }
