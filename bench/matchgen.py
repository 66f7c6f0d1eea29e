"""Deterministic synthetic data for ``bench/match.py``: a vocabulary, topics and stories.

* The vocabulary has real common English words as its most frequent types, then ~49k
  pseudo-words built from syllables, grouped in morphological families (``stem`` +
  suffixes, so ``negotiat*``-like prefix terms have several words to match) and a few
  hundred upper-case acronyms. Shorter words are more frequent (as in real text), and
  frequencies follow a two-regime Zipf-Mandelbrot law.
* Topics mix words, quoted phrases (with common words inside), prefixes, exact-case
  acronyms, OR-groups, NEAR/n, title:/body: scopes, NOT clauses and @aliases, with
  their terms drawn mostly from the mid and low frequency ranks. Each topic comes
  with a *witness*: text that satisfies its positive part, for planting into stories.
* Stories are a headline and ~1,000 words in paragraphs and sentences, with curly
  quotes and dashes in about half of them (so the tokenizer's non-ASCII path runs too).

Topic ``i`` depends only on the seed and ``i``, so the first 1,000 of 100,000 topics
are the 1,000-topic set. Nothing here imports ``monitor``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from itertools import accumulate


def _words(text: str) -> tuple[str, ...]:
    """The distinct words of ``text``, in order."""
    return tuple(dict.fromkeys(text.split()))


COMMON = _words(
    "the of and to a in that is for on it with as was he said by at from his be have has "
    "an are they this not but had were their been its who after will more we would which "
    "or she one also up about than new year two first over last out people her into some "
    "there all when other government could percent against what years time president can "
    "our if no so only most them since country million state just because officials while "
    "before may three under made world like any between these now during told second week "
    "where how back public such many market did being then those told police city each "
    "both should still minister according until through next former national much group "
    "four among where company even well security month including help own high long "
    "health report way told trade united party official military house law"
)
# Function words that may sit inside a quoted phrase ("minister of trade").
GLUE = ("of", "the", "for", "and", "in", "on", "to", "a", "at", "de")

ONSETS = _words(
    "b bl br c ch cl cr d dr f fl fr g gl gr h j k kl kr l m n p pl pr qu r s sc sh sk sl "
    "sm sn sp st str t th tr v w z"
)
VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "ai", "ea", "ou", "io")
CODAS = ("", "", "", "n", "r", "l", "s", "m", "t", "nd", "rt", "st", "ng", "x")
SUFFIXES = (
    "",
    "s",
    "ed",
    "ing",
    "er",
    "ers",
    "ion",
    "ions",
    "ive",
    "al",
    "ally",
    "ment",
    "ist",
    "ism",
    "ity",
)


def _log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    return min(hi - 1, int(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


@dataclass
class Vocabulary:
    """Word types by frequency rank (0 = most frequent) and their Zipf sampler."""

    words: list[str]  # folded forms, by rank
    display: dict[str, str]  # how a word is written when not as-is (acronyms)
    families: list[tuple[str, list[str]]]  # (stem, words) with at least two words
    cumulative: list[float] = field(default_factory=list)

    @classmethod
    def build(cls, rng: random.Random, size: int = 50_000) -> Vocabulary:
        seen: set[str] = set(COMMON)
        families: list[tuple[str, list[str]]] = []
        pseudo: list[str] = []
        acronyms: list[str] = []
        n_acronyms = 400
        while len(acronyms) < n_acronyms:
            word = "".join(rng.choice("abcdefghijklmnoprstuvw") for _ in range(rng.randint(2, 4)))
            if word not in seen:
                seen.add(word)
                acronyms.append(word)
        target = size - len(COMMON) - n_acronyms
        while len(pseudo) < target:
            syllables = rng.choices((1, 2, 3), weights=(4, 6, 2))[0]
            stem = "".join(
                rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                for _ in range(syllables)
            )
            if len(stem) < 3 or stem in seen:
                continue
            count = rng.choices((1, 2, 3, 4, 5), weights=(5, 3, 2, 1, 1))[0]
            made = sorted({stem + s for s in rng.sample(SUFFIXES, count)})
            variants = [w for w in made if w not in seen]
            seen.update(variants)
            pseudo.extend(variants)
            if len(variants) >= 2 and len(stem) >= 6:
                families.append((stem, sorted(variants)))
        # Zipf's law of abbreviation: shorter words are more frequent, with noise.
        pseudo.sort(key=lambda w: len(w) + rng.gauss(0, 2.0))
        for word in acronyms:  # acronyms are mid- and low-frequency words
            pseudo.insert(_log_uniform(rng, 1000, len(pseudo)), word)
        words = [*COMMON, *pseudo]
        # Zipf-Mandelbrot with exponent 1 up to rank 5,000 and 1.5 beyond: the two regimes
        # of large corpora (Ferrer i Cancho & Sole 2001), so rare words are really rare.
        knee = 5000 + 2.7
        weights = [
            1.0 / (r + 2.7) if r < 5000 else (knee / (r + 2.7)) ** 1.5 / knee
            for r in range(len(words))
        ]
        vocab = cls(
            words=words,
            display={w: w.upper() for w in acronyms},
            families=families,
            cumulative=list(accumulate(weights)),
        )
        return vocab

    def sample(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cumulative, k=k)

    def mid_low(self, rng: random.Random, lo: int = 3000) -> str:
        """A word from the mid/low frequency range (log-uniform over ranks), not an acronym."""
        while True:
            word = self.words[_log_uniform(rng, lo, len(self.words))]
            if word not in self.display:
                return word

    def acronym(self, rng: random.Random) -> str:
        return rng.choice(sorted(self.display))

    def show(self, rng: random.Random, word: str) -> str:
        """How ``word`` is written in a story: acronyms mostly upper case, as in news."""
        shown = self.display.get(word)
        return shown if shown is not None and rng.random() < 0.9 else word


# A witness is text that satisfies a query: segments of words, each in a field
# ("title", "body" or None for either), for planting into a story.
Segment = tuple[str | None, list[str]]


@dataclass(frozen=True)
class Generated:
    query: str
    witness: list[Segment]
    exclude: str | None = None


@dataclass(frozen=True)
class Alias:
    name: str
    query: str
    alternatives: list[list[str]]  # the words of each alternative, as written in stories


def _one_group(query: str) -> bool:
    """Whether ``query`` is a single bracketed group, like ``(a OR b)``."""
    depth = 0
    for i, c in enumerate(query):
        depth += (c == "(") - (c == ")")
        if depth == 0:
            return i == len(query) - 1
    return False


def _scoped(field: str, query: str) -> str:
    bare = " " not in query or _one_group(query)
    return f"{field}:{query}" if bare else f"{field}:({query})"


class TopicGenerator:
    """Topics of realistic shape; topic ``i`` depends only on the seed and ``i``."""

    def __init__(self, vocab: Vocabulary, seed: int, n_aliases: int = 300) -> None:
        self.vocab = vocab
        self.seed = seed
        rng = random.Random(seed * 7919 + 1)
        self.aliases = [self._alias(rng, i) for i in range(n_aliases)]

    # Atoms: (query text, words as written in a story that match it)
    def _word(self, rng: random.Random) -> tuple[str, list[str]]:
        word = self.vocab.mid_low(rng)
        return word, [word]

    def _phrase(self, rng: random.Random) -> tuple[str, list[str]]:
        shape = rng.random()
        if shape < 0.4:
            words = [self.vocab.mid_low(rng, 150), self.vocab.mid_low(rng)]
        elif shape < 0.75:
            words = [self.vocab.mid_low(rng, 150), rng.choice(GLUE), self.vocab.mid_low(rng)]
        else:
            words = [self.vocab.mid_low(rng, 150) for _ in range(3)]
        return '"' + " ".join(words) + '"', words

    def _prefix(self, rng: random.Random) -> tuple[str, list[str]]:
        stem, variants = rng.choice(self.vocab.families)
        return stem + "*", [rng.choice(variants)]

    def _acronym(self, rng: random.Random) -> tuple[str, list[str]]:
        word = self.vocab.acronym(rng)
        return "=" + word.upper(), [word.upper()]

    def _alias(self, rng: random.Random, index: int) -> Alias:
        kinds = (self._word, self._phrase, self._acronym, self._prefix)
        atoms = [rng.choices(kinds, weights=(5, 4, 1, 1))[0](rng) for _ in range(rng.randint(2, 4))]
        name = self.vocab.mid_low(rng, 2000).capitalize() + str(index)
        return Alias(name, " OR ".join(q for q, _ in atoms), [w for _, w in atoms])

    def _alias_ref(self, rng: random.Random) -> tuple[str, list[str]]:
        alias = rng.choice(self.aliases)
        return "@" + alias.name, list(rng.choice(alias.alternatives))

    def _atom(self, rng: random.Random, *, near_ok: bool = False) -> tuple[str, list[str]]:
        kinds = [self._word, self._phrase, self._prefix, self._acronym, self._alias_ref]
        return rng.choices(kinds, weights=(5, 4, 1.2, 0.8, 1.5))[0](rng)

    def _or_group(self, rng: random.Random) -> tuple[str, list[str]]:
        atoms = [self._atom(rng) for _ in range(rng.randint(2, 3))]
        return "(" + " OR ".join(q for q, _ in atoms) + ")", rng.choice(atoms)[1]

    def _near_operand(self, rng: random.Random) -> tuple[str, list[str]]:
        if rng.random() < 0.15:
            atoms = [self._phrase(rng) if rng.random() < 0.5 else self._word(rng) for _ in "ab"]
            return "(" + " OR ".join(q for q, _ in atoms) + ")", rng.choice(atoms)[1]
        kinds = [self._word, self._phrase, self._prefix, self._alias_ref]
        return rng.choices(kinds, weights=(5, 3, 1, 1.5))[0](rng)

    def _near(self, rng: random.Random) -> tuple[str, list[str]]:
        a, b = self._near_operand(rng), self._near_operand(rng)
        distance = rng.choice((None, 3, 5, 5, 10, 15, 20))
        op = "NEAR" if distance is None else f"NEAR/{distance}"
        gap = rng.randint(0, 10 if distance is None else distance)
        fill = self.vocab.sample(rng, gap)
        first, second = (a[1], b[1]) if rng.random() < 0.6 else (b[1], a[1])
        return f"{a[0]} {op} {b[0]}", [*first, *fill, *second]

    def _clause(self, rng: random.Random) -> tuple[str, Segment]:
        kind = rng.choices(("atom", "or", "near"), weights=(5, 3, 2))[0]
        query, words = (
            self._atom(rng)
            if kind == "atom"
            else self._or_group(rng)
            if kind == "or"
            else self._near(rng)
        )
        where = rng.random()
        if where < 0.08:
            return _scoped("title", query), ("title", words)
        if where < 0.14:
            return _scoped("body", query), ("body", words)
        return query, (None, words)

    def topic(self, index: int) -> Generated:
        rng = random.Random(self.seed * 1_000_003 + index)
        if rng.random() < 0.08:  # a broad topic: alternatives only
            atoms = [self._atom(rng) for _ in range(rng.randint(2, 4))]
            query = " OR ".join(q for q, _ in atoms)
            witness: list[Segment] = [(None, rng.choice(atoms)[1])]
        else:
            clauses = [self._clause(rng) for _ in range(rng.choices((1, 2, 3), (2, 5, 3))[0])]
            query = (" AND " if rng.random() < 0.5 else " ").join(q for q, _ in clauses)
            witness = [w for _, w in clauses]
        if rng.random() < 0.25:
            negative = self._or_group(rng)[0] if rng.random() < 0.4 else self._atom(rng)[0]
            query = f"({query}) NOT {negative}" if " OR " in query else f"{query} NOT {negative}"
        exclude = self._atom(rng)[0] if rng.random() < 0.05 else None
        return Generated(query, witness, exclude)

    def rule_files(self, count: int, per_file: int) -> list[tuple[str, str]]:
        """(path, TOML text): one file of aliases, then the topics ``per_file`` to a file."""
        lines = ["[aliases]"] + [f"{a.name} = '{a.query}'" for a in self.aliases]
        files = [("rules/aliases.toml", "\n".join(lines) + "\n")]
        for start in range(0, count, per_file):
            out: list[str] = []
            for i in range(start, min(count, start + per_file)):
                g = self.topic(i)
                out += ["[[topic]]", f'name = "t{i:06d}"', f"query = '{g.query}'"]
                if g.exclude is not None:
                    out.append(f"exclude = '{g.exclude}'")
                out.append("")
            files.append((f"rules/topics-{start // per_file:04d}.toml", "\n".join(out)))
        return files


@dataclass(frozen=True)
class Story:
    title: str
    body: str
    planted: tuple[int, ...]  # topics whose witness was planted


def _sentence(vocab: Vocabulary, rng: random.Random, words: list[str], fancy: bool) -> str:
    shown = [vocab.show(rng, w) for w in words]
    shown[0] = shown[0][:1].upper() + shown[0][1:]
    for _ in range(len(shown) // 9):
        k = rng.randrange(1, len(shown))
        shown[k - 1] += ","
    if fancy and rng.random() < 0.25:
        a = rng.randrange(len(shown))
        b = min(len(shown) - 1, a + rng.randint(1, 6))
        shown[a], shown[b] = "\u201c" + shown[a], shown[b] + "\u201d"
    if fancy and len(shown) > 1 and rng.random() < 0.1:
        shown.insert(rng.randrange(1, len(shown)), "\u2014")
    if fancy and rng.random() < 0.1:
        k = rng.randrange(len(shown))
        shown[k] += "\u2019s"
    return " ".join(shown) + "."


def make_stories(
    vocab: Vocabulary,
    topics: TopicGenerator,
    count: int,
    seed: int,
    plant_from: int,
    words: int = 1000,
) -> list[Story]:
    """``count`` stories of about ``words`` words; most carry witnesses of a few topics."""
    rng = random.Random(seed * 31 + 7)
    out = []
    for _ in range(count):
        fancy = rng.random() < 0.5
        title_words = vocab.sample(rng, rng.randint(6, 12))
        body_words = vocab.sample(rng, words - len(title_words))
        planted: list[int] = []
        inserts: list[tuple[int, list[str]]] = []
        if rng.random() < 0.8:
            for index in rng.sample(range(plant_from), rng.randint(1, 4)):
                planted.append(index)
                for where, seg in topics.topic(index).witness:
                    if where == "title" or (where is None and rng.random() < 0.1):
                        k = rng.randrange(len(title_words) + 1)
                        title_words[k:k] = seg
                    else:
                        inserts.append((rng.randrange(len(body_words)), seg))
        # Insert the body segments from the back, so earlier positions stay valid.
        for position, seg in sorted(inserts, key=lambda p: -p[0]):
            body_words[position:position] = seg
        shown = (vocab.show(rng, w) for w in title_words)
        title = " ".join(w if w.isupper() else w.capitalize() for w in shown)
        paragraphs: list[str] = []
        i = 0
        while i < len(body_words):
            sentences = []
            for _ in range(rng.randint(2, 6)):
                n = rng.randint(8, 32)
                if i >= len(body_words):
                    break
                sentences.append(_sentence(vocab, rng, body_words[i : i + n], fancy))
                i += n
            paragraphs.append(" ".join(sentences))
        out.append(Story(title, "\n\n".join(paragraphs), tuple(planted)))
    return out


def zipf_check(vocab: Vocabulary, rng: random.Random, n: int = 200_000) -> float:
    """Share of sampled tokens that are among the 100 most frequent types (~45% in news)."""
    top = set(vocab.words[:100])
    return sum(w in top for w in vocab.sample(rng, n)) / n
