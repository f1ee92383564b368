"""The two-level emergency decision that runs before the NLU model, on the safety set."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from frontdesk.conversations.safety import Signal, assess, is_emergency
from frontdesk.conversations.turns import MEDICAL_EMERGENCY, safety_line


@pytest.mark.parametrize(
    "text",
    [
        "i have crushing chest pain",
        "my chest hurts really bad",
        "pressure in my chest and my arm is numb",
        "I think I'm having a heart attack",
        "cant breathe",
        "my son can't catch his breath",
        "my husband collapsed and isn't breathing",
        "my lips are turning blue",
        "her face is drooping and her speech is slurred",
        "i think my dad is having a stroke",
        "baby having a seizure",
        "cut my hand and it won't stop bleeding",
        "i think i overdosed on my meds",
        "my toddler swallowed a bunch of pills",
        "i want to kill myself",
        "been having suicidal thoughts",
        "my throat is closing up after eating peanuts",
        "MY CHEST HURTS",
        "i don’t want to live anymore, i want to die",
        "need an ambulance",
        "should i call 911",
        "sos",
        "there's blood everywhere",
        "i can't move one side of my body",
        "i don't want to be alive anymore",
        "my daughter drank some cleaning fluid",
        "my toddler ate some of my pills",
        "i took too many of my sleeping pills",
        "it's an emergency",
    ],
)
def test_emergencies_are_caught(text: str) -> None:
    assert is_emergency(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'd like to book a physical",
        "next tue after 3",
        "no chest pain, just a cough for a week",
        "i'm not suicidal, just need a refill of my sertraline",
        "what's your fax number",
        "i need a sick visit, bad cold",
        "do u take blue cross",
        "who is my emergency contact on file",
        "call my mom",
        "can i reschedule my appointment",
        "",
        "🙂" * 5000,
    ],
)
def test_ordinary_messages_are_not_emergencies(text: str) -> None:
    assert not is_emergency(text)


SAFETY_SET = yaml.safe_load((Path(__file__).parent / "data" / "safety_set.yml").read_text())


@pytest.mark.parametrize("text", SAFETY_SET["emergencies"])
def test_every_emergency_of_the_safety_set_is_a_strong_signal(text: str) -> None:
    assert assess(text).signal is Signal.STRONG


@pytest.mark.parametrize("text", SAFETY_SET["benign"])
def test_no_benign_message_of_the_safety_set_ends_the_conversation(text: str) -> None:
    assert assess(text).signal is not Signal.STRONG


# Written after the rules, to probe them; the four misses and one false alarm they found first
# (docs/safety.md) were then fixed.
@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("my grandma fainted and isnt waking up", Signal.STRONG),
        ("my kid is turning blue", Signal.STRONG),
        ("he said he wants to die", Signal.STRONG),
        ("my toddler drank windshield fluid", Signal.STRONG),
        ("chest pain since last night and getting worse", Signal.STRONG),
        ("i need to reschedule, im having chest pain right now", Signal.STRONG),
        ("i want to end my life tonight lol", Signal.STRONG),
        ("bleeding heavily since my surgery last week", Signal.STRONG),
        ("who do i call if its an emergency", Signal.NONE),
        ("cant talk right now, text me later", Signal.NONE),
        ("my daughter needs an allergy test, she had a reaction to peanuts last year", Signal.NONE),
        ("i need to reschedule my cardiology follow up for chest pain", Signal.WEAK),
        ("my son has a seizure disorder and needs a school form", Signal.WEAK),
        ("lol this app is killing me", Signal.WEAK),
        ("can i talk to someone about my suicidal feelings from last year, im ok", Signal.WEAK),
        ("i'm not suicidal, just need a refill", Signal.NONE),
        # Found reviewing the rules: "help", "today", "just" near the words are common in
        # front-desk requests and must not undo what the words themselves are.
        ("can you help with the bill for my ambulance ride", Signal.WEAK),
        ("i need help with my seizure meds refill", Signal.WEAK),
        ("can you help me understand my heart attack risk screening", Signal.WEAK),
        ("i need a note for school today, my son had a seizure last week", Signal.WEAK),
        ("today my bill gave me a heart attack lol", Signal.WEAK),
        ("i need an ambulance ride now", Signal.STRONG),
        ("can you help me, my wife collapsed", Signal.STRONG),
        ("my husband just collapsed", Signal.STRONG),
    ],
)
def test_probes_written_after_the_rules(text: str, signal: Signal) -> None:
    assert assess(text).signal is signal


def test_self_harm_is_flagged_for_the_988_line_and_never_softened_by_a_joke() -> None:
    decided = assess("i feel like killing myself lol")
    assert decided.signal is Signal.STRONG and decided.self_harm and decided.rule == "self_harm"
    assert not assess("my chest hurts right now").self_harm


def test_a_weak_turn_gets_the_safety_line_from_the_service_and_others_do_not() -> None:
    assert safety_line("my bill gave me a heart attack lol", "my bill gave me a heart attack lol")
    assert safety_line("i have chest pain", MEDICAL_EMERGENCY) is None
    assert safety_line("what are your hours", "what are your hours") is None
    assert safety_line("heart attack lol", '/inform{"visit_type": "physical"}') is None
