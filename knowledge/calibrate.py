"""The abstention threshold of one knowledge base, calibrated when its documents are ingested.

A threshold tuned on one practice's documents does not carry over to another's (issue 14):
the confidence of a right answer and of a question the documents cannot answer both depend
on how large the documents are, how they are worded and what they cover. So at every ingest
the practice's own retriever answers `PROBES`, questions no front desk's documents answer
(other businesses, trivia, services a practice does not sell), and the threshold is set just
above the `PROBE_QUANTILE` of their confidence: on these documents, that share of such
questions would be declined. Answerable questions are not needed, so a practice's own staff
need to write no evaluation set for the rule to hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from knowledge.retrieve import Hit, HybridRetriever

PROBE_QUANTILE = 0.95
MARGIN = 0.01
# Bounds that keep a tiny or odd knowledge base from answering everything or nothing.
LOWEST, HIGHEST = 0.2, 0.6
# Off-topic questions for the calibration; none is in knowledge/eval.
PROBES = (
    "do you sell concert tickets",
    "what is the capital of france",
    "can you fix my car",
    "do you deliver pizza",
    "how do i reset my router",
    "who is the president",
    "can you book me a flight",
    "do you offer yoga classes",
    "what is your favorite color",
    "do you have a swimming pool",
    "can i rent a bike here",
    "do you do tattoo removal",
    "do you offer laser hair removal",
    "is there an atm in the lobby",
    "can i buy stamps",
    "what movies are playing tonight",
    "do you treat cats and dogs",
    "can you walk my dog",
    "do you offer cooking classes",
    "what stocks should i buy",
    "do you repair phones",
    "can i get a haircut",
    "do you cater weddings",
    "is there a gym nearby",
    "can you help with my taxes",
    "do you sell furniture",
    "what are the lottery numbers",
    "can i rent a locker",
    "do you do plastic surgery",
    "do you offer chiropractic adjustments",
    "can you notarize a document",
    "do you have a gift shop",
    "do you buy used cars",
    "do you host birthday parties",
    "how tall is mount everest",
    "can you translate a letter to french",
    "do you offer spa treatments",
    "do you accept bitcoin",
    "do you have valet service",
    "can i do my laundry there",
    "do you do lasik eye surgery",
    "do you offer dental implants",
    "do you do cosmetic fillers",
    "can i get hypnosis to quit smoking",
    "do you do knee replacement surgery",
    "do you provide home nursing care",
    "do you offer ancestry dna testing",
    "can i get a passport photo taken",
    "do you have a sauna",
    "are your nurses in a union",
    "how old is the building",
    "what brand of coffee do you serve",
    "do you have a chapel",
    "do you do marriage counseling",
    "can i volunteer at the front desk",
    "do you vaccinate dogs",
    "do you offer sign language interpreters for concerts",
    "can you recommend a lawyer",
    "do you sell wheelchairs",
    "do you do sports massage",
)


def confidence(hit: Hit) -> float:
    """How sure we are that a hit answers its question (0-1).

    Dense similarity carries paraphrase ("grandma is taking him" vs "someone else brings your
    child"); the share of the question's words the documents know at all catches questions
    about things the practice never mentions. Coverage of one passage, which punished every
    everyday word a patient adds, no longer decides (docs/knowledge.md, measured).
    """
    return 0.75 * max(hit.dense, 0.0) + 0.25 * hit.known


def spanish_confidence(hit: Hit) -> float:
    """`confidence` for a Spanish passage: the bundled embeddings were trained on English, so
    any two Spanish texts look alike to them (an off-topic Spanish question scores as high a
    dense similarity as a real one); the words the documents know carry more of the weight."""
    return 0.4 * max(hit.dense, 0.0) + 0.6 * hit.known


# The same kind of questions as a Spanish-speaking patient would type them (no accents, as
# texted), for the Spanish passages' own threshold; none is in knowledge/eval.
SPANISH_PROBES = (
    "venden boletos para conciertos",
    "cual es la capital de francia",
    "me pueden arreglar el carro",
    "entregan pizza a domicilio",
    "como reinicio mi router",
    "quien es el presidente",
    "me pueden reservar un vuelo",
    "tienen clases de yoga",
    "cual es su color favorito",
    "tienen piscina",
    "puedo rentar una bicicleta aqui",
    "quitan tatuajes",
    "hay un cajero automatico en la entrada",
    "venden estampillas",
    "que peliculas pasan esta noche",
    "atienden perros y gatos",
    "me pueden pasear al perro",
    "tienen clases de cocina",
    "en que acciones debo invertir",
    "reparan telefonos",
    "cortan el pelo",
    "hacen banquetes para bodas",
    "hay un gimnasio cerca",
    "me ayudan con mis impuestos",
    "venden muebles",
    "cuales son los numeros de la loteria",
    "hacen cirugia plastica",
    "pueden notarizar un documento",
    "tienen tienda de regalos",
    "compran carros usados",
    "organizan fiestas de cumpleanos",
    "que tan alto es el monte everest",
    "aceptan bitcoin",
    "tienen servicio de valet",
    "hacen implantes dentales",
    "tienen sauna",
    "que marca de cafe sirven",
    "hacen terapia de pareja",
    "me recomiendan un abogado",
    "venden sillas de ruedas",
)


def calibrate(
    retriever: HybridRetriever,
    probes: tuple[str, ...] = PROBES,
    score: Callable[[Hit], float] = confidence,
) -> dict[str, float]:
    """The knowledge base's calibration: its threshold and how it was found.

    Args:
        retriever: The practice's retriever (over the passages of one language).
        probes: Off-topic questions in that language.
        score: The confidence rule of that language.
    """
    scores = []
    for probe in probes:
        hits = retriever.search(probe, k=1)
        if hits:
            scores.append(score(hits[0]))
    if not scores:
        return {}
    threshold = float(np.quantile(scores, PROBE_QUANTILE)) + MARGIN
    return {
        "threshold": round(min(max(threshold, LOWEST), HIGHEST), 4),
        "probe_quantile": PROBE_QUANTILE,
        "probes": float(len(scores)),
    }
