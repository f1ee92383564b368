"""Spanish index terms: a light stemmer and the everyday words Spanish-speaking patients use.

A patient asks "¿dónde me estaciono?" or "¿dónde puedo estacionar?"; the document says
"estacionamiento". English suffix stripping leaves the three apart, so Spanish passages are
indexed with these rules instead (knowledge.languages picks them by the passages' language).

The stemmer strips one inflectional or derivational ending, longest first, in the spirit of
the Snowball Spanish stemmer without its region rules: a long ending must leave at least four
letters ("estación" stays whole, "estacionamiento" becomes "estacion"), a short one three.
Snowball itself (the `snowballstemmer` package) would need a new dependency; this is ~40
endings, runs on words already lower-cased and stripped of accents (retrieve._fold), and is
checked in tests/knowledge/test_spanish.py.
"""

from __future__ import annotations

from knowledge.retrieve import Analyzer

# Folded (no accents). Longest first, so "amiento" wins over "o".
_ENDINGS = sorted(
    [
        # nouns and adjectives made from verbs
        "amientos",
        "imientos",
        "amiento",
        "imiento",
        "aciones",
        "iciones",
        "uciones",
        "acion",
        "icion",
        "ucion",
        "adoras",
        "adores",
        "adora",
        "ador",
        "ancias",
        "encias",
        "ancia",
        "encia",
        "idades",
        "idad",
        "mente",
        "ables",
        "ibles",
        "able",
        "ible",
        "istas",
        "ista",
        "osos",
        "osas",
        "oso",
        "osa",
        # verbs: infinitives with a pronoun, gerunds, participles, common tenses
        "arse",
        "erse",
        "irse",
        "ando",
        "iendo",
        "ados",
        "adas",
        "ado",
        "ada",
        "idos",
        "idas",
        "ido",
        "ida",
        "ieron",
        "aron",
        "aban",
        "amos",
        "emos",
        "imos",
        "aria",
        "eria",
        "iria",
        "ar",
        "er",
        "ir",
        "an",
        "en",
        # plural and gender
        "as",
        "es",
        "os",
        "a",
        "e",
        "o",
        "s",
    ],
    key=len,
    reverse=True,
)


def spanish_stem(word: str) -> str:
    """The stem of a folded Spanish word ("estacionar", "estacionamiento" -> "estacion")."""
    if word.isdigit():
        return word
    for ending in _ENDINGS:
        keep = 4 if len(ending) > 2 else 3
        if word.endswith(ending) and len(word) - len(ending) >= keep:
            return word[: -len(ending)]
    return word


# Everyday words -> the word front-desk documents file the topic under: the Spanish
# counterparts of retrieve.SYNONYMS (hours, parking, insurance, getting there, holidays,
# urgent care, accessibility), plus the US Spanish words for them ("aseguranza", "parqueo").
# Written from the Spanish documents' headings and common usage, not from evaluation misses.
SPANISH_SYNONYMS = {
    # hours
    "abren": "horario",
    "abre": "horario",
    "abierto": "horario",
    "abiertos": "horario",
    "abrir": "horario",
    "cierran": "horario",
    "cierra": "horario",
    "cerrado": "horario",
    "cerrados": "horario",
    "cerrar": "horario",
    "hora": "horario",
    "horas": "horario",
    # parking
    "estacionar": "estacionamiento",
    "estaciono": "estacionamiento",
    "estacionarse": "estacionamiento",
    "parqueo": "estacionamiento",
    "parquear": "estacionamiento",
    "parqueadero": "estacionamiento",
    "parking": "estacionamiento",
    "aparcar": "estacionamiento",
    "carro": "estacionamiento",
    "coche": "estacionamiento",
    "auto": "estacionamiento",
    "garaje": "estacionamiento",
    "validan": "sellamos",
    "validar": "sellamos",
    "ticket": "boleto",
    # insurance
    "aseguranza": "seguro",
    "aseguranzas": "seguro",
    "cobertura": "seguro",
    "cubre": "seguro",
    "cubren": "seguro",
    "plan": "seguro",
    "planes": "seguro",
    "toman": "aceptamos",
    "reciben": "aceptamos",
    "aceptan": "aceptamos",
    # getting there
    "camion": "autobus",
    "bus": "autobus",
    "buses": "autobus",
    "guagua": "autobus",
    "metro": "tren",
    "ubicacion": "direccion",
    "ubicados": "direccion",
    "ubicada": "direccion",
    "domicilio": "direccion",
    # closures
    "navidad": "feriados",
    "nochebuena": "feriados",
    "festivo": "feriados",
    "festivos": "feriados",
    "feriado": "feriados",
    # when closed, urgent
    "urgencia": "emergencia",
    "urgente": "emergencia",
    "emergencias": "emergencia",
    # accessibility
    "discapacitado": "discapacidad",
    "discapacitados": "discapacidad",
    "minusvalido": "discapacidad",
    "minusvalidos": "discapacidad",
    "impedido": "discapacidad",
    "impedidos": "discapacidad",
    # irregular verbs whose forms share no stem ("traer" / "traiga"); found on a tuned miss
    "traer": "traiga",
    "traigo": "traiga",
    "traemos": "traiga",
    # people
    "doctor": "medico",
    "doctora": "medico",
}

SPANISH = Analyzer(spanish_stem, (SPANISH_SYNONYMS,))
