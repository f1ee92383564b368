"""Gazetteers for the cheap name detector: common US names, and words that are not names.

Lower-case names ("hi its maria gonzalez") are what spaCy's small model misses most. Words
that are also everyday English ("will", "may", "mark", "bill", "grant", "hope") are left out
of the plain lists: they count as names only after a cue such as "this is" or when capitalised
next to another name.

The lists are data, in `frontdesk/phi/data/` (one name per line; its README says where they
come from and how to extend them).
"""

from __future__ import annotations

from importlib import resources


def _load(file_name: str) -> frozenset[str]:
    text = resources.files("frontdesk.phi").joinpath("data", file_name).read_text("utf-8")
    return frozenset(
        stripped
        for line in text.splitlines()
        if (stripped := line.strip()) and not stripped.startswith("#")
    )


GIVEN_NAMES = _load("given-names.txt")
SURNAMES = _load("surnames.txt")
AMBIGUOUS = _load("everyday-word-names.txt")
WORDS_NOT_NAMES = _load("not-names.txt")  # after "i'm" / "this is" without being a name
CAPITALISED_NON_NAMES = _load("capitalised-non-names.txt")  # titles, places, brands
NAME_PARTICLES = _load("name-particles.txt")  # "van", "de", "du" inside compound surnames
