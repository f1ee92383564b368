"""Every HIPAA Safe Harbor identifier class that can appear in a text, through `scrub`.

`scrub` is what logs, knowledge queries and LLM prompts go through; `protect_for_bot` (the
web chat and SMS path to Rasa) uses the same analysis, checked at the end with tokens.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel
from frontdesk.phi import scrub
from frontdesk.phi.evaluation import evaluate, load_cases
from frontdesk.phi.scrubber import Scrubber
from frontdesk.phi.tokens import protect_for_bot, resolve_tokens
from tests import factories

NAMES = [
    ("this is Keisha Abernathy-Moore", "this is <PERSON>"),  # hyphenated
    ("appt for Mary Kate De La Cruz please", "appt for <PERSON> please"),  # compound
    ("last name Van der Meer first name Pieter", "last name <PERSON> first name <PERSON>"),
    ("Okonkwo, Chidinma here, dob 3/9/1979", "<PERSON>, <PERSON> here, dob <DATE_OF_BIRTH>"),
    ("Patient name: Delgado Ruiz, Marisol", "Patient name: <PERSON>, <PERSON>"),  # reversed
    ("name on the card is DESHAWN T. MCALLISTER", "name on the card is <PERSON>. <PERSON>"),
    ("this is Tomasz Wiśniewski's wife", "this is <PERSON>'s wife"),  # non-ASCII, possessive
    ("Hi, Rosalind here. Running late", "Hi, <PERSON> here. Running late"),
    ("this is Minh not Linh", "this is <PERSON> not <PERSON>"),
    ("can Tariq come in at 3", "can <PERSON> come in at 3"),
]
ADDRESSES = [
    ("new address: 4471 Old Mill Rd, Unit 12, Ramsey, NJ 07446", "new address: <STREET_ADDRESS>"),
    ("lives at 1200 Peachtree St NE Apt 1504", "lives at <STREET_ADDRESS>"),
    (
        "address 1702 State Route 9, past the gas station",
        "address <STREET_ADDRESS>, past the gas station",
    ),
    ("mail it to P.O. Box 4410, Reno NV 89501", "mail it to <STREET_ADDRESS>"),
    ("rural route: RR 2 Box 118", "rural route: <STREET_ADDRESS>"),
    ("we are at 311 County Road 14", "we are at <STREET_ADDRESS>"),
    ("my zip code is 60651-2204", "my zip code is <STREET_ADDRESS>"),
]
DATES = [
    ("dob 07/21/1958", "dob <DATE_OF_BIRTH>"),
    ("my mom was born on the 4th of July 1951", "my mom was born on <DATE_OF_BIRTH>"),
    ("i was discharged on 11/20/2026", "i was discharged on <PERSONAL_DATE>"),  # this year
    ("my husband passed away on august 14", "my husband passed away on <PERSONAL_DATE>"),
    ("had my knee surgery 3/14/24", "had my knee surgery <PERSONAL_DATE>"),
    ("date of injury 9-15-2026", "date of injury <PERSONAL_DATE>"),
    ("my last period was nov 2", "my last period was <PERSONAL_DATE>"),
    ("diagnosed in January 2023", "diagnosed in <PERSONAL_DATE>"),
    ("my grandmother is 97", "my grandmother is <AGE_OVER_89>"),
    ("patient is a 91 yo male", "patient is a <AGE_OVER_89> yo male"),
]
CONTACT = [
    ("call back at 555-0134 pls", "call back at <PHONE_NUMBER> pls"),
    ("work phone 555-555-0110 ext 24", "work phone <PHONE_NUMBER>"),
    ("reach me on +44 20 7946 0958", "reach me on <PHONE_NUMBER>"),
    ("can you fax the referral to (555) 555-0199", "can you fax the referral to <FAX_NUMBER>"),
    ("fax: 555.555.0191 attn billing", "fax: <FAX_NUMBER> attn billing"),
    ("email is j dot chavez at gmail dot com", "email is <EMAIL_ADDRESS>"),
    ("my email is chidi.okonkwo(at)protonmail.com", "my email is <EMAIL_ADDRESS>"),
    ("my blog is www.gloriapettigrew.com", "my blog is <URL>"),
    ("link: https://drive.google.com/file/d/1aZx9Qp0LmN3/view.", "link: <URL>."),
    ("follow me instagram.com/rosalind_bakes", "follow me <URL>"),
    ("my ip is 73.162.44.201", "my ip is <IP_ADDRESS>"),
    ("it shows 2601:644:8200:1f0::3a", "it shows <IP_ADDRESS>"),
]
NUMBERS = [
    ("ss number 301 44 9921", "ss number <US_SSN>"),
    ("last 4 of my social are 3390", "last 4 of my social are <US_SSN>"),
    ("my hospital number is 7734219", "my hospital number is <MEDICAL_RECORD_NUMBER>"),
    (
        "record no. 20458831 from my last visit",
        "record no. <MEDICAL_RECORD_NUMBER> from my last visit",
    ),
    ("insurance id is XJH 884 213 907", "insurance id is <MEMBER_ID>"),
    ("BCBS id ZGP902183341", "BCBS id <MEMBER_ID>"),
    ("billing account 300145872, charged twice", "billing account <ACCOUNT_NUMBER>, charged twice"),
    (
        "paid from checking account ending in 4471",
        "paid from checking account ending in <ACCOUNT_NUMBER>",
    ),
    ("my card ending 8812 was declined", "my card ending <ACCOUNT_NUMBER> was declined"),
    ("driver's license S530-4417-2881", "driver's license <LICENSE_NUMBER>"),
    ("drivers lic B4412870 exp 2029", "drivers lic <LICENSE_NUMBER> exp 2029"),
    ("birth certificate number 142-2019-0048812", "birth certificate number <LICENSE_NUMBER>"),
    ("my license plate is KJR-4471", "my license plate is <VEHICLE_ID>"),
    ("the report lists 2T1BURHE5JC074512", "the report lists <VEHICLE_ID>"),  # a VIN by shape
    ("insulin pump SN 7711-4438-2", "insulin pump SN <DEVICE_ID>"),
    ("IMEI 356938035643809", "IMEI <DEVICE_ID>"),
    ("confirmation code K7Q2ZP", "confirmation code <OTHER_ID>"),
    ("prior auth number PA88213", "prior auth number <OTHER_ID>"),
    ("passport no. 548823110", "passport no. <OTHER_ID>"),
]
SPANISH = [
    ("hola me llamo Ana Lucía Pérez Gómez", "hola me llamo <PERSON>"),
    ("soy Carmen, la mamá de Sofía Torres", "soy <PERSON>, la mamá de <PERSON>"),
    ("mi hijo Mateo tiene fiebre", "mi hijo <PERSON> tiene fiebre"),
    ("fecha de nacimiento 14/03/1985", "fecha de nacimiento <DATE_OF_BIRTH>"),
    ("nací el 14 de marzo de 1985", "nací el <DATE_OF_BIRTH>"),
    ("mi cumpleaños es el 5 de mayo", "mi cumpleaños es el <DATE_OF_BIRTH>"),
    ("falleció el 3 de septiembre", "falleció el <PERSONAL_DATE>"),
    ("vivo en Calle Mayor 12, 3º B", "vivo en <STREET_ADDRESS>"),
    ("Av. Insurgentes Sur 1602, Col. Crédito Constructor", "<STREET_ADDRESS>"),
    ("envíenlo a C/ Alcalá 120, 28009 Madrid", "envíenlo a <STREET_ADDRESS>"),
    ("domicilio: Calle 10 #45-20, Barrio San José", "domicilio: <STREET_ADDRESS>"),
    ("mi seguro social es 512-44-8831", "mi seguro social es <US_SSN>"),
    ("licencia de conducir R2204418", "licencia de conducir <LICENSE_NUMBER>"),
    ("la placa de mi carro es ABC-123-D", "la placa de mi carro es <VEHICLE_ID>"),
    ("número de cuenta 44120987", "número de cuenta <ACCOUNT_NUMBER>"),
]


@pytest.mark.parametrize(("text", "expected"), NAMES + ADDRESSES + DATES)
def test_names_addresses_and_dates_tied_to_a_person_are_replaced(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(("text", "expected"), CONTACT)
def test_phone_fax_email_url_and_ip_are_replaced(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(("text", "expected"), NUMBERS)
def test_record_plan_account_licence_vehicle_device_and_other_numbers_are_replaced(
    text: str, expected: str
) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(("text", "expected"), SPANISH)
def test_spanish_forms_are_replaced(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "my code is 482913",  # a one-time code: the verification flow must read it
        "la doctora Morales me dijo que regresara",  # a clinician, in Spanish
        "my father is 89 and still drives",  # ages up to 89 are not identifiers
        "my A1C was 7.2 and bp 140/90 at 10:30",
        "my visit summary says CPT 99213",
        "quiero cancelar mi cita del 15 de diciembre",  # an appointment, not a person's date
        "i was discharged last week, can i come in on 12/15",
        "is the clinic on Main Street or Oak Avenue",
        "I take 2 tablets of ibuprofen 200mg every 6 hours",
        "do you have the 1095-B form for my taxes",
        "i'm feeling better thanks",
        "gracias, nos vemos mañana",
        "card ending 4111 1111 1111 1112",
        # Emergencies must reach the bot as written, not as "i'm PHI_NAME_1".
        "i'm pregnant and bleeding heavily",
        "my dad is unconscious",
        "my 4 week old feels really hot, temp is 101",
        "my sugar is 95 this morning",
        "thanks, you're the best",
    ],
)
def test_ordinary_words_numbers_and_booking_dates_are_kept(text: str) -> None:
    assert scrub(text) == text


def test_the_dev_set_meets_the_recall_and_kept_goals() -> None:
    """A guard against regressions on the set the rules were tuned on (docs/phi.md)."""
    from pathlib import Path

    path = Path(__file__).parents[2] / "frontdesk/phi/eval/classes-dev.jsonl"
    report = evaluate(Scrubber(mode="fast"), load_cases(path))
    assert report.recall >= 0.98, report.misses
    assert report.kept_share >= 0.99, report.over_scrubbed
    assert report.group_recall("es") >= 0.98, report.misses


def test_new_classes_become_tokens_for_the_bot_and_resolve_back(session: Session) -> None:
    practice = factories.practice(session)
    conversation, _ = conversations.start_conversation(
        session=session, practice=practice, channel=Channel.WEBCHAT
    )
    text = (
        "fax 555-555-0177, acct no 88213490, DL# B4412870, plate KJR-4471, "
        "serial PJN123456H, see www.example.org/me from 73.162.44.201, claim # 2026-118840, "
        "she is 94, discharged 11/20/2026"
    )
    protected = protect_for_bot(session=session, conversation_id=conversation.id, text=text)
    assert protected == (
        "fax PHI_FAX_1, acct no PHI_ACCOUNT_1, DL# PHI_LICENSE_1, plate PHI_VEHICLE_1, "
        "serial PHI_DEVICE_1, see PHI_URL_1 from PHI_IP_1, claim # PHI_ID_1, "
        "she is PHI_AGE_1, discharged PHI_DATE_1"
    )
    assert resolve_tokens(session=session, conversation_id=conversation.id, text=protected) == text
