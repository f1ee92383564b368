"""The emergency safety net that runs before the NLU model."""

from __future__ import annotations

import pytest

from frontdesk.conversations.safety import is_emergency


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
