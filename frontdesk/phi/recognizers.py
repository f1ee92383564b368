"""Presidio recognizers for what patients actually text, and the fast path's full list.

Here: dates of birth and other dates tied to the patient, phone numbers, emails, street
addresses (English and Spanish), SSNs, record and plan numbers, cards; names live in
`person_names.py`, the other Safe Harbor identifiers in `identifiers.py`.

All of them work on the raw string (regular expressions, a name gazetteer and cue phrases),
so they run with a tokenizer-only NLP engine in the fast path; the accurate path adds spaCy's
named-entity recognizer for names on top. Clinician names ("Dr Patel") are not patient PHI
and are left alone, so the bot can still book with a named provider.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer

from frontdesk.clock import Clock, system_clock
from frontdesk.phi.identifiers import (
    DIGIT,
    IDENTIFIER_KINDS,
    OFFLINE_TLD_EXTRACT,
    FaxNumberRecognizer,
    LabelledIdentifierRecognizer,
    ShapedIdentifierRecognizer,
)
from frontdesk.phi.person_names import PERSON, NameRecognizer

DATE_OF_BIRTH = "DATE_OF_BIRTH"
PHONE = "PHONE_NUMBER"
EMAIL = "EMAIL_ADDRESS"
ADDRESS = "STREET_ADDRESS"
MRN = "MEDICAL_RECORD_NUMBER"
MEMBER_ID = "MEMBER_ID"
SSN = "US_SSN"
CARD = "CREDIT_CARD"
PERSONAL_DATE = "PERSONAL_DATE"
ENTITIES = (
    PERSON,
    DATE_OF_BIRTH,
    PERSONAL_DATE,
    PHONE,
    EMAIL,
    ADDRESS,
    MRN,
    MEMBER_ID,
    SSN,
    CARD,
    *IDENTIFIER_KINDS,
)

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_ES_MONTHS = (
    r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|"
    r"noviembre|diciembre)"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_NUM_MONTH = r"(?:0?[1-9]|1[0-2])"
_YEAR4 = r"(?:19|20)\d{2}"
_YEAR = rf"(?:{_YEAR4}|'?\d{{2}})"
# A date with a year: 4/12/1985, 04-12-85, 1985-04-12, April 12 1985, 12 April 1985, 4.12.85,
# 14/03/1985 (day first, as Spanish speakers write it), 14 de marzo de 1985, March 2024.
_DATE_WITH_YEAR = (
    rf"(?:{_NUM_MONTH}[/.\-]{_DAY}[/.\-]{_YEAR}"
    rf"|{_DAY}[/.\-]{_NUM_MONTH}[/.\-]{_YEAR4}"
    rf"|{_YEAR4}[/.\-]{_NUM_MONTH}[/.\-]{_DAY}"
    rf"|{_MONTHS}\s+{_DAY},?\s+{_YEAR}"
    rf"|(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTHS},?\s+{_YEAR}"
    rf"|{_DAY}\s+de\s+{_ES_MONTHS}(?:,?\s+(?:de|del)\s+|\s+){_YEAR4}"
    rf"|{_MONTHS}\s+(?:of\s+)?{_YEAR4})"
)
# Any date at all (only counts as a person's date after a cue such as "dob" or "discharged").
_ANY_DATE = (
    rf"(?:{_DATE_WITH_YEAR}|{_NUM_MONTH}[/\-]{_DAY}|{_MONTHS}\s+{_DAY}"
    rf"|(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTHS}|{_DAY}\s+de\s+{_ES_MONTHS}"
    rf"|{_NUM_MONTH}{_DAY}{_YEAR4})"
)
_DOB_CUE = (
    r"(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birthday|bday|b-day|born(?:\s+on)?|"
    r"dob\s+is|birthdate|fecha\s+de\s+nacimiento|f(?:echa|\.)?\s*de\s+nac(?:imiento|\.)?|"
    r"nac[ií]|naci[oó]|nacid[oa]|cumplea[ñn]os)"
)
_DATE_JOIN = r"(?:\s*(?::|\b(?:is|was|on|of|es|el|the)\b)\s*|\s+){0,3}"
DOB_WITH_CUE = re.compile(rf"(?i)\b{_DOB_CUE}\W{{0,3}}{_DATE_JOIN}(?P<date>{_ANY_DATE})(?!\d)")
# Other dates tied to the patient (Safe Harbor names admission, discharge and death): a date
# a few words after such a cue, in the same clause. A booking request in the same message
# ("discharged last week, can I come 12/15") stays readable: its words end the clause.
_EVENT_CUE = (
    r"(?:died|passed(?:\s+away)?|death|deceased|discharged|discharge|admitted|admission|"
    r"surgery|operation|procedure|injured|injury|accident|diagnosed|diagnosis|lmp|"
    r"last\s+(?:menstrual\s+)?period|date\s+of\s+service|hospitali[sz]ed|gave\s+birth|"
    r"delivered|miscarried|falleci[oó]|muri[oó]|fallecid[oa]|operad[oa]|internad[oa]|"
    r"dad[oa]\s+de\s+alta|cirug[ií]a)"
)
_NOT_EVENT_WORD = (
    r"(?!(?:appointment|appt|visit|come|book|see|can|could|next|follow|again|cita|and|but)\b)"
)
EVENT_DATE_WITH_CUE = re.compile(
    rf"(?i)\b{_EVENT_CUE}(?:\s+{_NOT_EVENT_WORD}[a-z']+){{0,4}}?{_DATE_JOIN}"
    rf"(?P<date>{_ANY_DATE})(?!\d)"
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
_CITY_STATE_ZIP = rf"(?:,?\s+[a-z]+(?:\s+[a-z]+)?,?\s+{_STATE}\.?\s+\d{{5}}(?:-\d{{4}})?\b)"
ADDRESS_PATTERN = (
    rf"(?i)\b\d{{1,6}}[a-z]?\s+(?:[nsew]\.?\s+|north\s+|south\s+|east\s+|west\s+)?"
    r"(?:(?:state\s+|county\s+|us\s+|farm\s+to\s+market\s+)?(?:route|rte|road|rd|highway|hwy)"
    r"\s+\d{1,4}\b"
    rf"|(?:[a-z0-9']+\s+){{0,3}}{_STREET_SUFFIX}\b\.?(?:\s+(?:ne|nw|se|sw)\b)?)"
    r"(?:,?\s+(?:apt|apartment|unit|suite|ste|#)\.?\s*#?\s*[a-z0-9\-]+)?"
    rf"{_CITY_STATE_ZIP}?"
)
PO_BOX_PATTERN = (
    r"(?i)\b(?:p\.?\s?o\.?\s+box|post\s+office\s+box|(?:rr|hc|rural\s+route)\s*\d{1,3}\s+box)"
    rf"\s+\d{{1,6}}\b{_CITY_STATE_ZIP}?"
)
ZIP_WITH_CUE = (
    r"(?i)\b(?:zip(?:\s*code)?|postal\s+code|c[oó]digo\s+postal|c\.p\.)\W{0,3}"
    r"(?:is\s+|es\s+|:\s*)?(?P<id>\d{5}(?:-\d{4})?)\b"
)
# Spanish street addresses: "Calle Mayor 12, 3º B", "Av. Insurgentes Sur 1602, Col. Roma",
# "C/ Alcalá 120, 28009 Madrid", "Carrera 7 #32-16, Barrio La Soledad".
_ES_WORD = r"[^\W\d_]+\.?"
_ES_NUMBER = (
    r"(?:#|no\.?|n[º°]\.?|n[uú]mero)?\s*\d{1,5}[a-z]?(?:\s*[#\-]\s*\d{1,4}(?:\s*-\s*\d{1,4})?)?"
)
_ES_DETAIL = (
    r"(?:\d{1,2}\s*[º°ª]\s*(?:[a-z]{1,4}\b\.?)?|piso\s+\d+\w*|d(?:e)?pto\.?\s*\w+|"
    r"int(?:erior)?\.?\s*\w+|apt\.?\s*\w+|puerta\s+\w+|izq(?:uierda)?\.?|dcha\.?|derecha|"
    r"(?:col\.?|colonia|barrio|urb\.?|urbanizaci[oó]n|fracc?\.?|fraccionamiento)"
    rf"(?:\s+{_ES_WORD}){{1,4}}|\d{{5}}(?:\s+{_ES_WORD}){{0,2}})"
)
ES_ADDRESS_PATTERN = (
    r"(?i)(?<!\w)(?:(?:calle|carrera|cra\.?|kra\.?|c/)\s*(?:" + _ES_WORD + r"\s+){0,4}?"
    r"|(?:avenida|avda\.?|av\.?|paseo|plaza|pza\.?|camino|carretera|callej[oó]n|privada|"
    r"bulevar|ronda|traves[ií]a|diagonal|transversal|calzada|glorieta)\s+(?:"
    + _ES_WORD
    + r"\s+){1,4}?)"
    + _ES_NUMBER
    + rf"(?:,?\s*{_ES_DETAIL}){{0,4}}"
)
PHONE_PATTERNS = (
    r"(?<![\w+])(?:\+?1[\s.\-]?)?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}"
    r"(?:\s*(?:ext\.?|x|extension)\s*\d{1,5})?(?!\w)",
    r"(?<![\w+])\+\d{1,3}[\s.\-]?\d{2,4}[\s.\-]?\d{3,4}[\s.\-]?\d{3,4}(?!\w)",
)
# A seven-digit local number ("call back at 555-0134"): dates use slashes, times colons.
LOCAL_PHONE_PATTERN = r"(?<![\w\-/.])\d{3}-\d{4}(?![\w\-])"
# "j dot chavez at gmail dot com", "name(at)protonmail.com".
_EMAIL_TLD = r"(?:com|net|org|edu|gov|us|es|mx|co|io|me|info|biz)\b"
OBFUSCATED_EMAIL_PATTERN = (
    r"(?i)\b[a-z0-9._%+\-]+(?:\s+dot\s+[a-z0-9_%+\-]+)*"
    r"(?:\s*(?:\[at\]|\(at\)|\{at\})\s*[a-z0-9\-]+(?:(?:\s+dot\s+|\.)[a-z0-9\-]+)*?"
    rf"(?:\s+dot\s+|\.){_EMAIL_TLD}"
    rf"|\s+at\s+[a-z0-9\-]+(?:\s+dot\s+[a-z0-9\-]+)*?\s+dot\s+{_EMAIL_TLD})"
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
    r"(?i)\b(?:ssn|ss\s*(?:#|number|no\.?)|seguro\s+social|"
    r"social(?:\s+security)?(?:\s+(?:number|no\.?|#))?)\s*(?:is|es|:|#)?\s*"
    r"(?P<id>\d{3}[\s\-]?\d{2}[\s\-]?\d{4})\b"
)
SSN_LAST_FOUR = (
    r"(?i)\b(?:last\s+(?:4|four)(?:\s+digits)?\s+of\s+(?:my\s+|the\s+|his\s+|her\s+)?"
    r"(?:ssn|ss\b|social(?:\s+security)?)(?:\s+(?:number|no\.?|#))?|"
    r"(?:ssn|social)\s+(?:last\s+(?:4|four)|ending(?:\s+in)?))\s*(?:is|are|:|#|=)?\s*"
    r"(?P<id>\d{4})\b"
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
    """Dates of birth: any date after a DOB cue, and any full date at least a year back.

    Also the other dates tied to the patient (death, admission, discharge, surgery, injury,
    last period), after their cue, whatever the year.
    """

    def __init__(self, *, clock: Clock = system_clock) -> None:
        """Recognise DATE_OF_BIRTH and PERSONAL_DATE; `clock` says which year it is."""
        super().__init__(
            supported_entities=[DATE_OF_BIRTH, PERSONAL_DATE], name="DateOfBirthRecognizer"
        )
        self._clock = clock

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Find dates of birth."""
        found: list[RecognizerResult] = []
        if not DIGIT.search(text):  # every date form holds a digit
            return found
        for match in DOB_WITH_CUE.finditer(text):
            found.append(RecognizerResult(DATE_OF_BIRTH, *match.span("date"), 0.95))
        for match in EVENT_DATE_WITH_CUE.finditer(text):
            found.append(RecognizerResult(PERSONAL_DATE, *match.span("date"), 0.9))
        today = self._clock().date()
        for match in DATE_WITH_YEAR.finditer(text):
            if birth_year_plausible(match.group(0), today=today):
                found.append(RecognizerResult(DATE_OF_BIRTH, *match.span(), 0.85))
        return found


def luhn_valid(number: str) -> bool:
    """Whether 13-19 digits (spaces or dashes allowed) pass the Luhn check of card numbers."""
    digits = [int(c) for c in number if c.isdigit()]
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


@dataclass(frozen=True)
class Rule:
    """One pattern of the regex table: its kind, score, the group that is PHI, a check.

    `needs_digit`: the pattern cannot match a text without a digit, so it is skipped there.
    """

    entity: str
    pattern: str
    score: float
    group: str | int = 0
    check: Callable[[str], bool] | None = None
    needs_digit: bool = True


class RegexRecognizer(EntityRecognizer):
    """Every plain pattern in one recognizer (phones, addresses, labelled ids, SSNs, cards).

    presidio's per-recognizer bookkeeping (context enhancement, registry look-ups, decision
    records) costs more than the matching itself: one recognizer for the whole table keeps
    the fast path fast. A rule with a group replaces only that group ("MRN 12345": the label
    stays readable); a rule with a check drops matches that fail it (Luhn for cards).
    """

    def __init__(self, rules: list[Rule]) -> None:
        """Recognise the kinds the rules name."""
        super().__init__(
            supported_entities=sorted({rule.entity for rule in rules}), name="RegexRecognizer"
        )
        self._rules = [(rule, re.compile(rule.pattern, re.IGNORECASE)) for rule in rules]

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Matches of every rule that pass its check."""
        found: list[RecognizerResult] = []
        digits = bool(DIGIT.search(text))
        for rule, regex in self._rules:
            if rule.needs_digit and not digits:
                continue
            for match in regex.finditer(text):
                value = match.group(rule.group)
                if not any(c.isalnum() for c in value):
                    continue
                if rule.check is None or rule.check(value):
                    found.append(RecognizerResult(rule.entity, *match.span(rule.group), rule.score))
        return found


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer with a public-suffix check that never uses the network.

    The stock one calls `tldextract.extract`, which downloads the suffix list on first use.
    """

    _extract = OFFLINE_TLD_EXTRACT

    def validate_result(self, pattern_text: str) -> bool:
        """A known public suffix after the @."""
        return bool(self._extract(pattern_text).fqdn)


def fast_recognizers(*, clock: Clock = system_clock) -> list[EntityRecognizer]:
    """Every pattern and gazetteer recognizer (no statistical model)."""
    return [
        NameRecognizer(),
        DateOfBirthRecognizer(clock=clock),
        OfflineEmailRecognizer(),
        RegexRecognizer(REGEX_RULES),
        FaxNumberRecognizer(),
        LabelledIdentifierRecognizer(),
        ShapedIdentifierRecognizer(),
    ]


REGEX_RULES = [
    *(Rule(PHONE, pattern, 0.7) for pattern in PHONE_PATTERNS),
    Rule(PHONE, LOCAL_PHONE_PATTERN, 0.6),
    Rule(EMAIL, OBFUSCATED_EMAIL_PATTERN, 0.7, needs_digit=False),
    Rule(ADDRESS, ADDRESS_PATTERN, 0.7),
    Rule(ADDRESS, PO_BOX_PATTERN, 0.7),
    Rule(ADDRESS, ES_ADDRESS_PATTERN, 0.7),
    Rule(ADDRESS, ZIP_WITH_CUE, 0.9, "id"),
    Rule(MRN, MRN_PATTERN, 0.9, "id", _has_digit),
    Rule(MEMBER_ID, MEMBER_PATTERN, 0.9, "id", _has_digit),
    Rule(MEMBER_ID, MBI_PATTERN, 0.8),
    *(Rule(SSN, pattern, 0.85) for pattern in SSN_PATTERNS),
    Rule(SSN, SSN_LABELLED, 0.9, "id"),
    Rule(SSN, SSN_LAST_FOUR, 0.9, "id"),
    Rule(CARD, CARD_PATTERN, 0.6, 0, luhn_valid),
]
