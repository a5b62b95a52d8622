"""Offline answers answer what was asked, over small documents written here (real embedder,
embedded Chroma): a list comes whole, a comparison gets both sides, a definition opens with
the definition, a sentence that continues the chosen one comes with it, and "the second one"
follows up on the previous answer's list."""

from __future__ import annotations

import re

import pytest

from bot.answer import KnowledgeBot
from bot.runtime.schema import Turn
from tests.conftest import bot_over

GREENHOUSE = """Greenhouse Operations Guide

For years, I've watched growers argue about what to call their work. Greenhouse climate control is the practice of keeping temperature, humidity and light inside a greenhouse within the ranges a crop needs. It relies on sensors, vents and heaters driven by a controller.

Daily checks:
- Read the overnight minimum temperature from the logger
- Inspect the drip lines for blocked emitters
- Empty the condensation trays under the benches
- Record seedling height on the growth sheet

Hydroponic beds and soil beds differ in upkeep. Hydroponic beds need the nutrient solution tested every morning for acidity and salt level. Soil beds need compost worked in twice a season and weeding every week.
"""

BEEKEEPING = """Apiary Handbook

An apiary is a yard where beehives are kept. Hive inspections happen every nine days in spring.
Beekeepers wear veils and gloves during inspections. Smoke calms the colony before a frame is lifted.
Honey is extracted in late summer with a centrifugal extractor. The wax cappings are melted down for candles.

There are 3 classic mistakes new beekeepers make.

1. Opening The Hive Too Often

Every inspection chills the brood and sets the colony back by a day. New keepers open the hive out of curiosity rather than need.

2. Feeding Syrup Too Late

Colonies fed after the first frost cannot cure the syrup and it ferments in the comb.

3. Ignoring Varroa Counts

Mite numbers double every month in summer, and a colony that looks strong in August can collapse by November.

Swarm season:
- Add a super before the brood box fills
- Split strong colonies into two hives
- Clip the queen's wing to slow a swarm
"""

COLD_CHAIN = """Cold Chain Handbook

Cold chain logistics is the transport and storage of perishable goods at a controlled low temperature from producer to shop. It depends on refrigerated trucks, insulated containers and temperature loggers.

Why cold chain logistics matters

Cold chain logistics keeps food safe to eat. Cold chain logistics keeps vaccines effective. Cold chain logistics cuts the waste of perishable goods.

Cold chain logistics in practice

For years, I've heard people call cold chain logistics simply cold storage. Cold chain logistics teams check the loggers of every delivery.
"""


@pytest.fixture(scope="module")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBot:
    documents = {
        "greenhouse.txt": GREENHOUSE,
        "apiary.txt": BEEKEEPING,
        "coldchain.txt": COLD_CHAIN,
    }
    return bot_over(tmp_path_factory.mktemp("small"), documents)


def test_a_list_question_gets_every_item(small_kb: KnowledgeBot) -> None:
    answer = small_kb.answer("Which daily checks are done in the greenhouse?")
    assert not answer.abstained
    for item in ("overnight minimum temperature", "blocked emitters", "condensation trays",
                 "seedling height"):  # fmt: skip
        assert item in answer.answer


def test_a_definition_opens_with_the_definition_not_the_anecdote(small_kb: KnowledgeBot) -> None:
    answer = small_kb.answer("What is greenhouse climate control?")
    first = answer.answer.splitlines()[0]
    assert first.startswith("Greenhouse climate control is the practice")
    assert "For years" not in answer.answer


def test_a_definition_stays_on_the_definition(small_kb: KnowledgeBot) -> None:
    # Every sentence of the document names the subject; a definition question gets the
    # definition and what most nearly adds to it, not every sentence that names it.
    answer = small_kb.answer("define cold chain logistics")
    assert answer.answer.startswith("Cold chain logistics is the transport and storage")
    assert "refrigerated trucks" in answer.answer  # the sentence that continues it
    assert answer.answer.count(". [") + answer.answer.count("? [") <= 4
    assert "For years" not in answer.answer


def test_a_sentence_that_continues_the_answer_comes_with_it(small_kb: KnowledgeBot) -> None:
    answer = small_kb.answer("What is greenhouse climate control?")
    assert "sensors, vents and heaters" in answer.answer  # "It relies on…" follows


def test_a_comparison_gets_both_sides(small_kb: KnowledgeBot) -> None:
    answer = small_kb.answer("What is the difference between hydroponic beds and soil beds?")
    assert "nutrient solution" in answer.answer  # the hydroponic side
    assert "compost" in answer.answer  # the soil side


def test_the_second_one_follows_up_on_the_previous_list(small_kb: KnowledgeBot) -> None:
    history = [
        Turn(role="user", content="What can a beekeeper do in swarm season?"),
        Turn(
            role="assistant",
            content="1) add a super before the brood box fills, 2) split strong colonies "
            "into two hives, 3) clip the queen's wing.",
        ),
    ]
    answer = small_kb.answer("tell me more about the second one", history)
    assert not answer.abstained
    assert "Split strong colonies into two hives" in answer.answer


def test_a_counted_question_gets_the_numbered_sections(small_kb: KnowledgeBot) -> None:
    answer = small_kb.answer("What are the three mistakes new beekeepers make?")
    for heading in ("Opening The Hive Too Often", "Feeding Syrup Too Late",
                    "Ignoring Varroa Counts"):  # fmt: skip
        assert heading in answer.answer


def test_a_two_part_question_answered_by_a_list_says_each_item_once(
    small_kb: KnowledgeBot,
) -> None:
    answer = small_kb.answer("What do you do in swarm season, and how is honey extracted?")
    assert not answer.abstained
    assert "centrifugal extractor" in answer.answer
    for item in ("Add a super", "Split strong colonies", "Clip the queen"):
        assert answer.answer.count(item) == 1, answer.answer


@pytest.mark.parametrize(
    "initiative",
    [
        "Upgrading our warehouse servers so that customers can track their orders online",
        "Moving our email to a cloud provider",
        "Launching a mobile app for customers to book appointments",
    ],
)
def test_a_classification_over_documents_that_never_describe_it_or_digital_work(
    small_kb: KnowledgeBot, initiative: str
) -> None:
    # Nothing in these documents describes IT or digital work: the verdict still comes, from
    # kb's own example initiatives, and says so instead of pointing at passages it lacks.
    answer = small_kb.classify(initiative)
    assert answer.classification is not None
    assert answer.classification.label in ("it", "digital", "both")
    assert answer.citations == []
    assert "no passage that describes IT or digital work" in answer.answer


def test_a_precise_question_gets_its_answer_without_padding(small_kb: KnowledgeBot) -> None:
    # One sentence answers it; the other sentences of the document (and of other documents)
    # score far below it and are left out rather than filling the answer to three.
    answer = small_kb.answer("When is honey extracted?")
    assert answer.answer.startswith("Honey is extracted in late summer")
    assert "apiary is a yard" not in answer.answer
    assert "Hive inspections" not in answer.answer
    assert len(answer.citations) == 1


CLOUD_FAQ = """Cloud Cost Governance

Cloud cost governance is the set of policies, roles and tools an organisation uses to keep
cloud spending predictable and tied to business value. Without it, the monthly bill grows
faster than revenue.

Who owns the cloud bill?
The finance team owns the budget, but each product team owns the resources it creates. A
central FinOps function reports spend per team every week.

How are idle resources handled?
Development environments are shut down every night and restarted on demand.
"""


@pytest.fixture(scope="module")
def faq_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBot:
    return bot_over(tmp_path_factory.mktemp("faq"), {"cloud-faq.txt": CLOUD_FAQ})


def test_the_answer_under_a_question_heading_comes_first(faq_kb: KnowledgeBot) -> None:
    # "Who owns the cloud bill?" heads its own answer; the introduction shares more words
    # with the question's topic but is not what was asked.
    answer = faq_kb.answer("Who owns the cloud bill?")
    assert answer.answer.startswith("The finance team owns the budget"), answer.answer


RUNBOOK = """# Release Runbook

## Building a release

Build the release artefacts from a clean checkout, then run the smoke tests against them:

```bash
make dist && ./scripts/smoke --env staging
```

## Settings

| Setting | Default | Meaning |
|---|---|---|
| RELEASE_CHANNEL | stable | The channel a build is published to. Beta builds go to testers only. |
| RELEASE_RETRIES | 3 | How often a failed upload is retried. |
"""


@pytest.fixture(scope="module")
def runbook_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBot:
    return bot_over(tmp_path_factory.mktemp("runbook"), {"runbook.md": RUNBOOK})


def test_a_line_ending_in_a_colon_comes_with_the_command_it_announces(
    runbook_kb: KnowledgeBot,
) -> None:
    answer = runbook_kb.answer("How do I build a release?")
    # the command follows its lead line, as written: no full stop glued onto either
    announced = (
        r"run the smoke tests against them: \[(\d)\] "
        r"make dist && \./scripts/smoke --env staging \[\1\]"
    )
    assert re.search(announced, answer.answer), answer.answer


def test_a_table_row_ending_in_a_sentence_gets_one_full_stop(runbook_kb: KnowledgeBot) -> None:
    answer = runbook_kb.answer("What does RELEASE_CHANNEL mean?")
    assert "Beta builds go to testers only. [" in answer.answer, answer.answer
    assert ".." not in answer.answer
