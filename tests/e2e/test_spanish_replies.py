"""A Spanish conversation over web chat gets Spanish replies, against the real stack.

The service detects the language, sends it with each turn, the bot's language slot picks
each response's Spanish variation and the actions word dates and buttons in Spanish. The
patient's Spanish understanding is not under test here: the first message is a greeting the
English model knows, then button payloads and a short time ("asap") that keeps the
conversation Spanish.
"""

from __future__ import annotations

from tests.support.english import english_in
from tests.support.stack import Stack, buttons, texts


def test_a_spanish_conversation_is_answered_in_spanish_throughout(stack: Stack) -> None:
    chat = stack.chat()
    seen: list[str] = []
    try:
        # A greeting the English model knows ("hola"): the reply and its button in Spanish.
        frames = chat.turn("hola, buenos dias")
        assert "¡Hola! Soy el asistente virtual" in texts(frames), texts(frames)
        seen.append(texts(frames))
        book = next(b for b in buttons(frames) if b["payload"] == "/book_appointment")
        assert book["title"] == "Hacer una cita"
        frames = chat.turn(book["title"], book["payload"])
        assert "¿Qué tipo de consulta necesita?" in texts(frames), texts(frames)
        seen.append(texts(frames))
        visit = buttons(frames)[0]
        frames = chat.turn(visit["title"], visit["payload"])
        assert "¿Quiere ver a algún médico en particular?" in texts(frames), texts(frames)
        anyone = next(b for b in buttons(frames) if b["title"] == "Cualquiera")
        frames = chat.turn(anyone["title"], anyone["payload"])
        assert "¿Qué día y hora le quedan bien?" in texts(frames), texts(frames)
        frames = chat.turn("asap")
        seen.append(texts(frames))
        offered = buttons(frames)
        assert "Esto es lo que tengo para" in texts(frames), texts(frames)
        assert offered[-1]["title"] == "Ninguno de estos"
        assert " p. m. · " in offered[0]["title"] or " a. m. · " in offered[0]["title"]
    finally:
        chat.close()
    assert english_in("\n".join(seen)) == []
