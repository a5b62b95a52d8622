"""Stage 3c, the classification as an `Answer`: label, confidence and a rationale quoting the
corpus (locally from the classifier's prototypes, or from the LLM's structured reply)."""

from __future__ import annotations

from bot.answer.classify import InitiativeClassifier, Verdict
from bot.answer.retrieve import KnowledgeIndex
from bot.runtime.schema import Answer, Citation, Classification

LABEL_NAMES = {
    "it": "an IT initiative",
    "digital": "a digital initiative",
    "both": "both an IT and a digital initiative",
}


def classification_answer(
    initiative: str,
    label: str,
    confidence: float,
    rationale: str,
    citations: list[Citation],
    backend: str,
) -> Answer:
    """The Answer for a classification: one sentence with the label, then the rationale."""
    classification = Classification(
        label=label, confidence=round(confidence, 3), rationale=rationale
    )  # type: ignore[arg-type]
    # The confidence is shown once, by each door from `classification.confidence`.
    text = f"“{initiative}” is {LABEL_NAMES[label]}. {rationale}"
    return Answer(answer=text, citations=citations, classification=classification, backend=backend)  # type: ignore[arg-type]


def local_verdict_answer(
    initiative: str, verdict: Verdict, classifier: InitiativeClassifier, index: KnowledgeIndex
) -> Answer:
    """The local classifier's verdict with the prototypes that support it as citations."""
    protos = classifier.protos
    book: list[Citation] = []
    numbers: dict[str, int] = {}
    quotes = []
    for i in verdict.evidence[:2]:
        chunk = index.by_id[protos.chunk_ids[i]]
        if chunk.id not in numbers:
            numbers[chunk.id] = len(book) + 1
            book.append(
                Citation(
                    n=numbers[chunk.id],
                    source=chunk.source,
                    title=chunk.title,
                    quote=protos.quotes[i],
                    score=round(float(max(verdict.scores.values())), 4),
                    section=chunk.section,
                )
            )
        quotes.append((protos.sides[i], protos.quotes[i], numbers[chunk.id]))
    label = verdict.label
    if not quotes:  # the knowledge base describes neither side: say what the label rests on
        rationale = (
            "The knowledge base has no passage that describes IT or digital work, so this rests "
            "only on kb's own example initiatives of each kind."
        )
    elif label == "both":
        (_, q1, n1), (_, q2, n2) = quotes[0], quotes[-1]
        rationale = (
            f"It joins IT work (“{verdict.means}”), as the corpus describes IT: “{q1}” [{n1}], "
            f"to a customer-facing change (“{verdict.purpose}”), as it describes digital: “{q2}” [{n2}]."
        )
    else:
        side_name = (
            "IT strategy/transformation" if label == "it" else "digital strategy/transformation"
        )
        rationale = f"Closest to how the knowledge base describes {side_name}: " + " ".join(
            f"“{q}” [{n}]" for _, q, n in quotes
        )
    return classification_answer(initiative, label, verdict.confidence, rationale, book, "local")


def not_an_initiative(text: str) -> Answer:
    """No label for text that is not an initiative: one plain sentence saying so."""
    shown = text if len(text) <= 120 else text[:117].rsplit(" ", 1)[0] + "…"
    subject = f"“{shown}” does" if shown else "The question does"
    return Answer(
        answer=(
            f"{subject} not name an initiative, so it gets no IT or digital label. "
            "Describe a project or change, for example “moving our file servers to the cloud”."
        ),
        abstained=False,  # a refusal of the input, not a gap in the knowledge base
        backend="local",
    )  # type: ignore[arg-type]
