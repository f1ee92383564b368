"""The two-level emergency decision on Spanish messages (conversations/data/safety_es.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from frontdesk.conversations.safety import Signal, assess

SAFETY_SET_ES = yaml.safe_load((Path(__file__).parent / "data" / "safety_set_es.yml").read_text())


@pytest.mark.parametrize("text", SAFETY_SET_ES["emergencies"])
def test_every_spanish_emergency_of_the_safety_set_is_a_strong_signal(text: str) -> None:
    assert assess(text).signal is Signal.STRONG


@pytest.mark.parametrize("text", SAFETY_SET_ES["benign"])
def test_no_spanish_benign_message_of_the_safety_set_ends_the_conversation(text: str) -> None:
    assert assess(text).signal is not Signal.STRONG


# Written after the Spanish rules, to probe them; the one false alarm they found ("presion"
# read as chest pressure when the patient ruled chest pain out) was then fixed.
@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("mi hijo se esta poniendo azul", Signal.STRONG),
        ("a mi esposo le duele el pecho desde hace una hora y esta sudando", Signal.STRONG),
        ("mi niña se trago unas monedas y no puede respirar", Signal.STRONG),
        ("estoy sangrando mucho despues del parto", Signal.STRONG),
        ("mi papa no puede mover el lado derecho", Signal.STRONG),
        ("quiero suicidarme", Signal.STRONG),
        ("mi hermana dice que se va a matar", Signal.STRONG),
        ("se me hincho la cara y no puedo respirar, soy alergica al mani", Signal.STRONG),
        ("mi bebé de 2 semanas tiene calentura", Signal.STRONG),
        ("me siento muy mal, creo q me voy a desmayar, ayuda", Signal.STRONG),
        ("necesito cita para revisar mi presion, no tengo dolor de pecho", Signal.NONE),
        ("mi esposo tiene historial de infarto, quiero hacer su chequeo", Signal.WEAK),
        ("me pueden resurtir la medicina para la presion", Signal.NONE),
        ("cancelen mi cita, mi hijo ya no tiene convulsiones desde hace meses", Signal.NONE),
        ("la cuenta me dio un infarto jaja", Signal.WEAK),
        ("quisiera una cita para mi hija, tuvo sangrado de nariz la semana pasada", Signal.NONE),
        ("mi mama tiene asma, necesita refill del inhalador", Signal.NONE),
        ("me mata de risa este chat jaja", Signal.WEAK),
    ],
)
def test_spanish_probes_written_after_the_rules(text: str, signal: Signal) -> None:
    assert assess(text).signal is signal


def test_accents_do_not_change_the_decision() -> None:
    with_accents = assess("mi niña está convulsionando, ¡ayúdenme!")
    without = assess("mi nina esta convulsionando, ayudenme")
    assert with_accents == without
    assert with_accents.signal is Signal.STRONG and with_accents.rule == "seizure"


def test_spanish_self_harm_gets_the_988_flag_and_a_joke_does_not_soften_it() -> None:
    decided = assess("me quiero matar jaja")
    assert decided.signal is Signal.STRONG and decided.self_harm and decided.rule == "self_harm"


def test_no_quiero_morir_rules_self_harm_out() -> None:
    assert assess("no quiero morir, solo quiero una cita para mi ansiedad").signal is Signal.NONE
