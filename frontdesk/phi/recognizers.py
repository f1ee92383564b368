"""Presidio recognizers for what patients actually text.

All of them work on the raw string (regular expressions, a name gazetteer and cue phrases),
so they run with a tokenizer-only NLP engine in the fast path; the accurate path adds spaCy's
named-entity recognizer for names on top. Clinician names ("Dr Patel") are not patient PHI
and are left alone, so the bot can still book with a named provider.
"""

from __future__ import annotations

import re
from datetime import date

import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer
from spacy.lang.en.stop_words import STOP_WORDS as SPACY_STOP_WORDS

from frontdesk.clock import Clock, system_clock
from frontdesk.phi.names import (
    AMBIGUOUS,
    CAPITALISED_NON_NAMES,
    GIVEN_NAMES,
    SURNAMES,
    WORDS_NOT_NAMES,
)

PERSON = "PERSON"
DATE_OF_BIRTH = "DATE_OF_BIRTH"
PHONE = "PHONE_NUMBER"
EMAIL = "EMAIL_ADDRESS"
ADDRESS = "STREET_ADDRESS"
MRN = "MEDICAL_RECORD_NUMBER"
MEMBER_ID = "MEMBER_ID"
SSN = "US_SSN"
CARD = "CREDIT_CARD"
ENTITIES = (PERSON, DATE_OF_BIRTH, PHONE, EMAIL, ADDRESS, MRN, MEMBER_ID, SSN, CARD)

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_NUM_MONTH = r"(?:0?[1-9]|1[0-2])"
_YEAR4 = r"(?:19|20)\d{2}"
_YEAR = rf"(?:{_YEAR4}|'?\d{{2}})"
# A date with a year: 4/12/1985, 04-12-85, 1985-04-12, April 12 1985, 12 April 1985, 4.12.85.
_DATE_WITH_YEAR = (
    rf"(?:{_NUM_MONTH}[/.\-]{_DAY}[/.\-]{_YEAR}"
    rf"|{_YEAR4}[/.\-]{_NUM_MONTH}[/.\-]{_DAY}"
    rf"|{_MONTHS}\s+{_DAY},?\s+{_YEAR}"
    rf"|{_DAY}\s+(?:of\s+)?{_MONTHS},?\s+{_YEAR})"
)
# Any date at all (only counts as a date of birth after a cue such as "dob" or "born").
_ANY_DATE = (
    rf"(?:{_DATE_WITH_YEAR}|{_NUM_MONTH}[/\-]{_DAY}|{_MONTHS}\s+{_DAY}|{_DAY}\s+(?:of\s+)?{_MONTHS}"
    rf"|{_NUM_MONTH}{_DAY}{_YEAR4})"
)
_DOB_CUE = (
    r"(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birthday|bday|b-day|born(?:\s+on)?|"
    r"dob\s+is|birthdate)"
)
DOB_WITH_CUE = re.compile(
    rf"(?i)\b{_DOB_CUE}\W{{0,3}}(?:is\s+|was\s+|on\s+|of\s+|:\s*)?(?P<date>{_ANY_DATE})(?!\d)"
)
DATE_WITH_YEAR = re.compile(rf"(?i)(?<![\w/.\-]){_DATE_WITH_YEAR}(?![\w/]|\.\d)")
_YEAR_IN = re.compile(r"(19|20)\d{2}|'?(\d{2})$")

_STREET_SUFFIX = (
    r"(?:street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
    r"terrace|ter|circle|cir|parkway|pkwy|highway|hwy|trail|trl|square|sq|loop|row|path|pike)"
)
_STATE = (
    r"(?:al|ak|az|ar|ca|co|ct|de|dc|fl|ga|hi|id|il|in|ia|ks|ky|la|me|md|ma|mi|mn|ms|mo|mt|ne|"
    r"nv|nh|nj|nm|ny|nc|nd|oh|ok|or|pa|ri|sc|sd|tn|tx|ut|vt|va|wa|wv|wi|wy)"
)
ADDRESS_PATTERN = (
    rf"(?i)\b\d{{1,6}}[a-z]?\s+(?:[nsew]\.?\s+|north\s+|south\s+|east\s+|west\s+)?"
    rf"(?:[a-z0-9']+\s+){{0,3}}{_STREET_SUFFIX}\b\.?"
    r"(?:,?\s+(?:apt|apartment|unit|suite|ste|#)\.?\s*#?\s*[a-z0-9\-]+)?"
    rf"(?:,?\s+[a-z]+(?:\s+[a-z]+)?,?\s+{_STATE}\.?\s+\d{{5}}(?:-\d{{4}})?\b)?"
)
PO_BOX_PATTERN = r"(?i)\bp\.?\s?o\.?\s+box\s+\d{1,6}\b"
PHONE_PATTERNS = (
    r"(?<![\w+])(?:\+?1[\s.\-]?)?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}(?!\w)",
    r"(?<![\w+])\+\d{1,3}[\s.\-]?\d{2,4}[\s.\-]?\d{3,4}[\s.\-]?\d{3,4}(?!\w)",
)
MRN_PATTERN = (
    r"(?i)\b(?:mrn|medical\s+record\s*(?:number|no\.?|num|#)?|chart\s*(?:number|no\.?|#)|"
    r"patient\s*(?:id|number|no\.?|#)|record\s*(?:number|#))\s*(?:is|:|#)?\s*#?\s*"
    r"(?P<id>[a-z]{0,3}-?\d[\d\-]{3,14}[a-z]?)\b"
)
MEMBER_PATTERN = (
    r"(?i)\b(?:member\s*(?:id|number|no\.?|#)|subscriber\s*(?:id|number|#)|"
    r"insurance\s*(?:id|number|#)|policy\s*(?:id|number|no\.?|#)|medicaid\s*(?:id|number|#)?|"
    r"medicare\s*(?:id|number|#)?|mbi|group\s*(?:number|no\.?|#)|id\s*(?:number|#))"
    r"\s*(?:is|:|#)?\s*#?\s*(?P<id>[a-z0-9][a-z0-9\-]{4,19})\b"
)
# Medicare Beneficiary Identifier (CMS format), with or without dashes.
MBI_PATTERN = (
    r"(?i)\b[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?"
    r"[AC-HJKMNP-RT-Y]{2}\d{2}\b"
)
SSN_PATTERNS = (r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b",)
SSN_LABELLED = (
    r"(?i)\b(?:ssn|social(?:\s+security)?(?:\s+(?:number|no\.?|#))?)\s*(?:is|:|#)?\s*"
    r"(?P<id>\d{3}[\s\-]?\d{2}[\s\-]?\d{4})\b"
)
CARD_PATTERN = r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)"


def birth_year_plausible(text: str, *, today: date) -> bool:
    """Whether a date with a year lies at least a year back (appointments are not DOBs)."""
    digits = re.findall(r"\d+", text)
    year: int | None = None
    for chunk in digits:
        if len(chunk) == 4:
            year = int(chunk)
    if year is None and digits:
        last = digits[-1]
        if len(last) == 2:
            year = 2000 + int(last) if 2000 + int(last) <= today.year else 1900 + int(last)
    if year is None:
        return False
    return year <= today.year - 1


class DateOfBirthRecognizer(EntityRecognizer):
    """Dates of birth: any date after a DOB cue, and any full date at least a year back."""

    def __init__(self, *, clock: Clock = system_clock) -> None:
        """Recognise DATE_OF_BIRTH; `clock` says which year it is."""
        super().__init__(supported_entities=[DATE_OF_BIRTH], name="DateOfBirthRecognizer")
        self._clock = clock

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Find dates of birth."""
        found: list[RecognizerResult] = []
        for match in DOB_WITH_CUE.finditer(text):
            found.append(RecognizerResult(DATE_OF_BIRTH, *match.span("date"), 0.95))
        today = self._clock().date()
        for match in DATE_WITH_YEAR.finditer(text):
            if birth_year_plausible(match.group(0), today=today):
                found.append(RecognizerResult(DATE_OF_BIRTH, *match.span(), 0.85))
        return found


class CardNumberRecognizer(PatternRecognizer):
    """Payment card numbers (13-19 digits, spaces or dashes allowed) that pass the Luhn check."""

    def __init__(self) -> None:
        """Recognise CREDIT_CARD."""
        super().__init__(
            supported_entity=CARD,
            name="CardNumberRecognizer",
            patterns=[Pattern("card", CARD_PATTERN, 0.6)],
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        """Luhn checksum."""
        digits = [int(c) for c in pattern_text if c.isdigit()]
        if not 13 <= len(digits) <= 19:
            return False
        total = 0
        for index, digit in enumerate(reversed(digits)):
            if index % 2 == 1:
                digit *= 2
                if digit > 9:
                    digit -= 9
            total += digit
        return total % 10 == 0


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer with a public-suffix check that never uses the network.

    The stock one calls `tldextract.extract`, which downloads the suffix list on first use.
    """

    _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        """A known public suffix after the @."""
        return bool(self._extract(pattern_text).fqdn)


class LabelledIdRecognizer(PatternRecognizer):
    """An identifier that follows its label ("MRN 12345", "member id: XGH123456")."""

    def __init__(self, entity: str, pattern: str, name: str) -> None:
        """Recognise `entity` in the `id` group of `pattern`."""
        super().__init__(supported_entity=entity, name=name, patterns=[Pattern(name, pattern, 0.9)])
        self._regex = re.compile(pattern)

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        """Only the id is PHI; the label stays readable."""
        return [
            RecognizerResult(self.supported_entities[0], *m.span("id"), 0.9)
            for m in self._regex.finditer(text)
            if any(c.isdigit() for c in m.group("id"))
        ]


_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_NAME_CUE = re.compile(
    r"(?i)\b(?:this\s+is|my\s+name\s+is|my\s+name'?s|name\s*(?:is|:)|names|it'?s|its|"
    r"i\s+am|i'?m|im|patient(?:\s+name)?\s*(?:is|:)?|for\s+my\s+(?:son|daughter|wife|husband|"
    r"mom|mother|dad|father|child|kid|baby|grandson|granddaughter|partner)|"
    r"(?:son|daughter|wife|husband|mom|dad|child|kid|baby|partner)(?:'s)?\s+(?:name\s+)?(?:is|:)|"
    r"signed|regards|thanks|thank\s+you|thx|cheers|sincerely|from)\s*[,:\-]?\s+"
)
_RELATION_CUE = re.compile(
    r"(?i)\b(?:my|our|her|his)\s+(?:son|daughter|husband|wife|mom|mother|dad|father|child|kid|"
    r"baby|partner|grandson|granddaughter|brother|sister|grandma|grandpa|fianc[eé]e?)\s+"
)
_RELATIVE_OF = re.compile(
    r"(?i)\b([a-z][a-z'\-]*)'s\s+(?:mom|mother|dad|father|parent|wife|husband|guardian|"
    r"son|daughter|sister|brother|caregiver|grandma|grandpa)\b"
)
CLINICIAN_TITLE = re.compile(r"(?i)\b(?:dr|doctor|nurse|np|pa|md|provider)\.?\s*$")
# Word lists, as data (frontdesk/phi/data/; its README says what each holds).
_NOT_NAMES = WORDS_NOT_NAMES
_NON_NAME_CAPS = CAPITALISED_NON_NAMES
# Words that follow a name in a message ("im dave williams born on ...").
_AFTER_NAME = frozenset(
    {"born", "dob", "birthday", "needs", "wants", "needed", "asked", "says", "said", "called"}
)
GIVEN = GIVEN_NAMES - AMBIGUOUS
_NAME_STOP = _NOT_NAMES | _NON_NAME_CAPS | _AFTER_NAME | SPACY_STOP_WORDS


class NameRecognizer(EntityRecognizer):
    """Cheap patient-name detector: cue phrases, a name gazetteer and capitalised name pairs.

    Catches what spaCy's small model misses in texts ("hi its maria gonzalez", "this is Bob"),
    at regular-expression speed. Names right after a clinician title are not patient PHI.
    """

    def __init__(self) -> None:
        """Recognise PERSON."""
        super().__init__(supported_entities=[PERSON], name="NameRecognizer")

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Find patient names."""
        words = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]
        flagged: set[int] = set()
        cue_ends = {m.end() for m in _NAME_CUE.finditer(text)}
        relation_ends = {m.end() for m in _RELATION_CUE.finditer(text)}
        relative_starts = {m.start(1) for m in _RELATIVE_OF.finditer(text)}
        after_cue_index: set[int] = set()
        for index, (word, start, _end) in enumerate(words):
            lower = word.lower()
            if CLINICIAN_TITLE.search(text[max(0, start - 12) : start]):
                continue
            after_cue = start in cue_ends
            # "my son Eli", not "my son has".
            if (
                start in relation_ends
                and lower not in _NAME_STOP
                and (word[0].isupper() or lower in GIVEN_NAMES)
            ):
                flagged.add(index)
                continue
            if start in relative_starts and lower not in _NOT_NAMES | _NON_NAME_CAPS:
                flagged.add(index)
                continue
            if after_cue and lower not in _NOT_NAMES and lower not in _NON_NAME_CAPS:
                after_cue_index.add(index)
                if lower in GIVEN_NAMES or lower in SURNAMES or word[0].isupper():
                    flagged.add(index)
                elif not any(c.isdigit() for c in word) and len(word) > 1:
                    flagged.add(index)  # "this is zanele": an unknown word after a firm cue
            elif lower in GIVEN or (
                word[0].isupper()
                and not word.isupper()
                and lower not in _NON_NAME_CAPS
                and index + 1 < len(words)
                and words[index + 1][0][0].isupper()
                and words[index + 1][0].lower() in SURNAMES
                and not _sentence_start(text, start)
            ):
                flagged.add(index)
        # Extend flagged names over the following words of the same name ("maria gonzalez",
        # "ana lucia torres" after a cue), and back over a surname ("Tran Minh").
        queue = sorted(flagged)
        while queue:
            index = queue.pop(0)
            for nxt in (index + 1, index - 1):
                if not 0 <= nxt < len(words) or nxt in flagged:
                    continue
                left, right = sorted((index, nxt))
                if text[words[left][2] : words[right][1]].strip() != "":
                    continue
                word = words[nxt][0]
                lower = word.lower()
                forward = nxt > index
                if (
                    lower in SURNAMES
                    and lower not in _NOT_NAMES | _NON_NAME_CAPS
                    and (forward or word[0].isupper())
                ) or (
                    forward
                    and (
                        (index in after_cue_index and lower not in _NAME_STOP)
                        or (word[0].isupper() and lower not in _NON_NAME_CAPS | _NOT_NAMES)
                    )
                ):
                    flagged.add(nxt)
                    if index in after_cue_index:
                        after_cue_index.add(nxt)
                    queue.append(nxt)
        return [RecognizerResult(PERSON, words[i][1], words[i][2], 0.85) for i in sorted(flagged)]


def _sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    return not before or before[-1] in ".!?"


def fast_recognizers(*, clock: Clock = system_clock) -> list[EntityRecognizer]:
    """Every pattern and gazetteer recognizer (no statistical model)."""
    return [
        NameRecognizer(),
        DateOfBirthRecognizer(clock=clock),
        PatternRecognizer(
            supported_entity=PHONE,
            name="PhoneRecognizer",
            patterns=[Pattern(f"phone{i}", p, 0.7) for i, p in enumerate(PHONE_PATTERNS)],
        ),
        OfflineEmailRecognizer(),
        PatternRecognizer(
            supported_entity=ADDRESS,
            name="StreetAddressRecognizer",
            patterns=[
                Pattern("street", ADDRESS_PATTERN, 0.7),
                Pattern("pobox", PO_BOX_PATTERN, 0.7),
            ],
        ),
        LabelledIdRecognizer(MRN, MRN_PATTERN, "MrnRecognizer"),
        LabelledIdRecognizer(MEMBER_ID, MEMBER_PATTERN, "MemberIdRecognizer"),
        PatternRecognizer(
            supported_entity=MEMBER_ID,
            name="MbiRecognizer",
            patterns=[Pattern("mbi", MBI_PATTERN, 0.8)],
        ),
        PatternRecognizer(
            supported_entity=SSN,
            name="SsnRecognizer",
            patterns=[Pattern(f"ssn{i}", p, 0.85) for i, p in enumerate(SSN_PATTERNS)],
        ),
        LabelledIdRecognizer(SSN, SSN_LABELLED, "SsnLabelledRecognizer"),
        CardNumberRecognizer(),
    ]
