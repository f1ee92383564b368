"""Recognizers for the identifier classes of HIPAA's Safe Harbor list beyond names and dates.

Most identifiers (licence, account, device, plate, claim numbers) have no shape of their own:
"B4412870" could be anything. What makes them PHI in a patient's text is the label in front
("DL#", "acct no", "serial", "placa"), so they are found by label, in English and Spanish,
and only the value is replaced: the bot still reads "my member id is PHI_MEMBER_1".
Identifiers that do have a shape (URLs, IP addresses, VINs, ages over 89 with a cue) are
found by it. Everything here is a regular expression on the raw text (the fast path).

Bare short numbers with no label ("my code is 482913") are left alone on purpose: one-time
codes and times have the same shape, and the bot must read them.
"""

from __future__ import annotations

import ipaddress
import re

import tldextract
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

FAX = "FAX_NUMBER"
ACCOUNT = "ACCOUNT_NUMBER"
LICENSE = "LICENSE_NUMBER"
VEHICLE = "VEHICLE_ID"
DEVICE = "DEVICE_ID"
URL = "URL"
IP = "IP_ADDRESS"
OTHER_ID = "OTHER_ID"
AGE = "AGE_OVER_89"
IDENTIFIER_KINDS = (FAX, ACCOUNT, LICENSE, VEHICLE, DEVICE, URL, IP, OTHER_ID, AGE)
# Most texts hold no digit at all, and every numbered identifier needs one: checking first
# skips most patterns for most messages.
DIGIT = re.compile(r"\d")

# What may stand between a label and its value: "is", "#", ":", "number", "ending in", "es".
_JOIN = (
    r"(?:\s*(?:[:#=]|\b(?:is|was|are|number|num|no|nbr|ending(?:\s+in)?|es|de|del|n[uú]mero|"
    r"n[oº°])\b\.?)\s*|\s+){1,4}"
)
# A value: groups of letters and digits joined by dashes, dots or slashes, or by single spaces
# when the next group holds a digit ("XJH 884 213 907", "BHX 2290"); `_has_id_shape` checks it.
_VALUE = r"(?P<id>[a-z0-9]+(?:(?:[\-./]|\s(?=[a-z]{0,3}\d))[a-z0-9]+){0,5})"


def _labelled(label: str) -> re.Pattern[str]:
    return re.compile(rf"(?i)\b(?:{label})\.?{_JOIN}{_VALUE}(?![\w@])")


ACCOUNT_LABEL = (
    r"(?:patient\s+|billing\s+|guarantor\s+|checking\s+|savings\s+|bank\s+|my\s+)?"
    r"(?:account|acct|acc't)|cuenta"
)
LICENSE_LABEL = (
    r"driver'?s?\s+licen[cs]e|drivers?\s+lic|licen[cs]e(?!\s+plate)|\bd\.?l\b|"
    r"state\s+id(?:\s+card)?|(?:birth|death|marriage|divorce)\s+cert(?:ificate)?|certificate|"
    r"cert|(?:rn|lpn|nursing|medical|professional)\s+licen[cs]e(?:\s+is)?(?:\s+(?:rn|lpn))?|"
    r"licencia(?:\s+de\s+(?:conducir|manejo|manejar))?|acta\s+de\s+nacimiento"
)
VEHICLE_LABEL = (
    r"licen[cs]e\s+plate|plates?|tag(?:\s+(?:number|no|#))?|vin|vehicle\s+id(?:entification)?|"
    r"placas?(?:\s+de\s+mi\s+(?:carro|coche|auto))?|(?:handicap(?:ped)?\s+)?placard|"
    r"parking\s+permit|registration"
)
DEVICE_LABEL = (
    r"serial(?:\s+(?:number|no|num|#))?|s/n|\bsn|imei|device\s+(?:id|serial)|udi|"
    r"transmitter(?:\s+(?:id|serial))?|n[uú]mero\s+de\s+serie|serie"
)
OTHER_LABEL = (
    r"confirmation(?:\s+(?:code|number|#))?|claim|prior\s+auth(?:orization)?|auth(?:orization)?|"
    r"rx|prescription|referral|case|passport|a-number|alien(?:\s+(?:registration\s+)?number)?|"
    r"uscis|student(?:\s+id)?|employee(?:\s+id)?|badge|order|requisition|reference|ref|"
    r"ticket|tracking|invoice|voucher|pasaporte|folio|expediente\s+de\s+caso"
)
MRN_LABEL = (
    r"mrn|medical\s+record(?:\s+(?:number|no|num|#))?|chart(?:\s+(?:number|no|id|#))?|"
    r"patient\s+(?:id|number|no|#)|record\s+(?:number|no|#)|hospital\s+(?:number|no|id|#)|"
    r"mychart\s+id|(?:n[uú]mero\s+de\s+)?expediente|historia\s+cl[ií]nica"
)
PLAN_LABEL = (
    r"member(?:\s+(?:id|number|no|#))?|subscriber(?:\s+(?:id|number|no|#))?|"
    r"insurance(?:\s+(?:id|number|no|#))|policy(?:\s+(?:id|number|no|#))?|"
    r"medicaid(?:\s+(?:id|number|no|#))?|medicare(?:\s+(?:id|number|no|#))?|mbi|"
    r"(?:health\s+)?plan\s+(?:id|number|#)|group(?:\s+(?:id|number|no|#))|id\s+(?:number|#)|"
    r"(?:aetna|cigna|humana|bcbs|blue\s+cross|uhc|united(?:\s*healthcare)?|kaiser|anthem|"
    r"molina|tricare|wellcare|oscar|ambetter|caresource|medi-cal|insurance)"
    r"(?:\s+(?:card|id|number|#))?(?:\s+says)?|"
    r"(?:n[uú]mero\s+de\s+)?(?:miembro|afiliado|p[oó]liza|seguro(?!\s+social))"
)
LABELS: tuple[tuple[str, str], ...] = (
    ("MEDICAL_RECORD_NUMBER", MRN_LABEL),
    ("MEMBER_ID", PLAN_LABEL),
    (ACCOUNT, ACCOUNT_LABEL),
    (VEHICLE, VEHICLE_LABEL),
    (LICENSE, LICENSE_LABEL),
    (DEVICE, DEVICE_LABEL),
    (OTHER_ID, OTHER_LABEL),
)
# A phone number after "fax" in the same clause ("fax the referral to (555) 555-0199").
FAX_NUMBER = re.compile(
    r"(?i)\bfax\b[^.!?\n\d+(]{0,40}"
    r"(?P<id>(?:\+?\d{1,3}[\s.\-]?)?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4})(?!\w)"
)


def _has_id_shape(value: str, kind: str) -> bool:
    """An identifier, not a word, a year or a dose: enough characters and at least one digit."""
    alnum = [c for c in value if c.isalnum()]
    digits = sum(c.isdigit() for c in alnum)
    if not digits:
        return False
    if kind == ACCOUNT and len(alnum) == digits:
        return digits >= 4  # "checking account ending in 4471"
    if len(alnum) < 5:
        return False
    # A year or a time ("case from 2024", "order at 10.30") is not an identifier.
    return not re.fullmatch(r"(?:19|20)\d{2}|\d{1,2}[.:]\d{2}", value)


class FaxNumberRecognizer(EntityRecognizer):
    """A phone number given as a fax number (it outranks the plain phone reading)."""

    def __init__(self) -> None:
        """Recognise FAX_NUMBER."""
        super().__init__(supported_entities=[FAX], name="FaxNumberRecognizer")

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Find fax numbers."""
        if not DIGIT.search(text):
            return []
        return [RecognizerResult(FAX, *m.span("id"), 0.9) for m in FAX_NUMBER.finditer(text)]


# The last four digits of a payment card: a whole card number is left to the Luhn check.
CARD_LAST_FOUR = re.compile(r"(?i)\bcard\s+ending(?:\s+in)?\s+(?P<id>\d{4})(?![\s\-]?\d)")


class LabelledIdentifierRecognizer(EntityRecognizer):
    """Values after a label: fax, account, licence, vehicle, device, record and other ids."""

    def __init__(self) -> None:
        """Recognise every labelled kind."""
        super().__init__(
            supported_entities=sorted({kind for kind, _ in LABELS}),
            name="LabelledIdentifierRecognizer",
        )
        self._patterns = [(kind, _labelled(label)) for kind, label in LABELS]

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Only the value is PHI; the label stays readable."""
        found: list[RecognizerResult] = []
        if not DIGIT.search(text):
            return found
        for kind, pattern in self._patterns:
            for match in pattern.finditer(text):
                value = match.group("id").rstrip(".-/")
                if _has_id_shape(value, kind):
                    start = match.start("id")
                    found.append(RecognizerResult(kind, start, start + len(value), 0.9))
        for match in CARD_LAST_FOUR.finditer(text):
            found.append(RecognizerResult(ACCOUNT, *match.span("id"), 0.9))
        return found


# Shapes. A VIN: 17 characters without I, O or Q, with letters and digits.
VIN = re.compile(
    r"(?i)\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b"
)
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9a-fA-F:]{2,39}(?![\w:])")
URL_WITH_SCHEME = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"']+")
BARE_DOMAIN = re.compile(
    r"(?i)(?<![\w@.\-])(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,24}(?P<path>/[^\s<>\"']*)?"
    r"(?![\w@])"
)
# Top-level domains common enough to read a bare "name.tld" without a path as an address.
COMMON_TLDS = frozenset(
    {"com", "net", "org", "edu", "gov", "io", "co", "us", "me", "ly", "gl", "app", "info"}
    | {"biz", "health", "care", "clinic", "uk", "ca", "mx", "es", "tv"}
)
AGE_OVER_89 = re.compile(
    r"(?i)\b(?:(?P<a>9\d|1[01]\d)\s*(?:-?\s*years?(?:\s*-?\s*old)?|-?\s*yrs?(?:\s+old)?|"
    r"\s*y/?o|\s*a[ñn]os)\b|"
    r"(?:aged?|turned|turning|turns|(?:grand)?(?:mother|father|ma|pa)\s+is|"
    r"(?:mom|mum|dad|grandma|grandpa|husband|wife|aunt|uncle|patient|pt|he|she)\s+is|"
    r"(?:he|she)['’]s|i\s+am|i['’]?m)\s+(?:a\s+|now\s+)?(?P<b>9\d|1[01]\d)(?!\d|[.,:/]\d|\s*[%°]|\s*(?:%|mg|"
    r"lbs?|pounds|kg|min|minutes|hours|days|dollars|degrees|over|am|pm|a\.m|p\.m)\b))"
)
# The public-suffix list bundled with tldextract (the stock extractor downloads it).
OFFLINE_TLD_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class ShapedIdentifierRecognizer(EntityRecognizer):
    """URLs, IP addresses, VINs and ages over 89: identifiers recognisable by their form."""

    def __init__(self) -> None:
        """Recognise URL, IP_ADDRESS, VEHICLE_ID and AGE_OVER_89."""
        super().__init__(
            supported_entities=[URL, IP, VEHICLE, AGE], name="ShapedIdentifierRecognizer"
        )
        # Building the suffix trie takes a second: pay it here, not on the first URL.
        OFFLINE_TLD_EXTRACT("example.org")

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Find identifiers by shape."""
        found: list[RecognizerResult] = []
        if DIGIT.search(text):
            found.extend(_numbered(text))
        for match in IPV6_CANDIDATE.finditer(text):
            candidate = match.group(0)
            if ("::" in candidate or candidate.count(":") >= 3) and _is_ipv6(candidate):
                found.append(RecognizerResult(IP, *match.span(), 0.85))
        for match in URL_WITH_SCHEME.finditer(text):
            found.append(RecognizerResult(URL, match.start(), _trim_url(match), 0.85))
        for match in BARE_DOMAIN.finditer(text):
            suffix = OFFLINE_TLD_EXTRACT(match.group(0).split("/")[0]).suffix
            if suffix and (match.group("path") or suffix.split(".")[-1].lower() in COMMON_TLDS):
                found.append(RecognizerResult(URL, match.start(), _trim_url(match), 0.75))
        return found


def _numbered(text: str) -> list[RecognizerResult]:
    """VINs, IPv4 addresses and ages: the shapes that need a digit."""
    found = [RecognizerResult(VEHICLE, *m.span(), 0.8) for m in VIN.finditer(text)]
    for match in IPV4.finditer(text):
        if all(int(part) <= 255 for part in match.group(0).split(".")):
            found.append(RecognizerResult(IP, *match.span(), 0.85))
    for match in AGE_OVER_89.finditer(text):
        group = "a" if match.group("a") else "b"
        found.append(RecognizerResult(AGE, *match.span(group), 0.8))
    return found


def _is_ipv6(candidate: str) -> bool:
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _trim_url(match: re.Match[str]) -> int:
    """End of a URL without the sentence's closing punctuation."""
    return match.start() + len(match.group(0).rstrip(".,;:!?)]"))
