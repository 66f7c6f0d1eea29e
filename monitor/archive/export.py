"""Writing stories out as story-format files named ``NNN_<id>.txt``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from monitor.text.normalize import format_story
from monitor.types import Story


def story_filename(number: int, story_id: str, *, width: int = 3) -> str:
    return f"{number:0{width}d}_{story_id}.txt"


def export_stories(
    stories: Iterable[Story], directory: Path, *, total: int, written: list[Path] | None = None
) -> int:
    """Write each story to ``directory``, numbered in archive order from 000; return the count.

    ``total`` sets the number width so that file names sort in archive order; ``written``
    gets each file's path as it is written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(max(total - 1, 0))))
    count = 0
    for number, story in enumerate(stories):
        path = directory / story_filename(number, story.id, width=width)
        path.write_text(format_story(story.headline, story.paragraphs), encoding="utf-8")
        if written is not None:
            written.append(path)
        count += 1
    return count
