"""Word and phrase lexicons matched against a lowercased word list, all in one pass.

Matching words with set lookups is linear in the text and an order of magnitude faster than a
regular expression with a large alternation (which Python's ``re`` tries branch by branch at
every position); matching every lexicon in one pass saves the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class Lexicons:
    """Named lexicons. Entries are words or space-separated phrases ("i think"), matched as
    whole words of a list produced by ``_document.lower_words`` (so "don't" is one word). Within
    one lexicon the longest entry at a position wins and matches never overlap: "may be" counts
    once, not also as "may"."""

    def __init__(self, lexicons: Mapping[str, Iterable[str]]) -> None:
        self.names = list(lexicons)
        # first word -> [(lexicon number, [rest of each phrase, longest first])]
        by_first: dict[str, dict[int, list[tuple[str, ...]]]] = {}
        for number, name in enumerate(self.names):
            for entry in lexicons[name]:
                words = tuple(entry.lower().replace("\u2019", "'").split())
                if not words:
                    raise ValueError(f"empty entry in lexicon {name}")
                by_first.setdefault(words[0], {}).setdefault(number, []).append(words[1:])
        self._first = {
            w: [(number, sorted(rests, key=len, reverse=True)) for number, rests in d.items()]
            for w, d in by_first.items()}

    def count(self, words: list[str]) -> dict[str, int]:
        """How many entries of each lexicon occur in ``words``."""
        first = self._first
        n = [0] * len(self.names)
        free = [0] * len(self.names)
        for i in [i for i, w in enumerate(words) if w in first]:
            for number, rests in first[words[i]]:
                if i < free[number]:
                    continue
                for rest in rests:
                    k = len(rest)
                    if not k or tuple(words[i + 1:i + 1 + k]) == rest:
                        n[number] += 1
                        free[number] = i + 1 + k
                        break
        return dict(zip(self.names, n, strict=True))
