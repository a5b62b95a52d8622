"""Cleaning of web-article text: golden tests on the corpus plus one test per generic rule."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.runtime.text import split_sentences
from ingest.clean import (
    EMPTY_RULES,
    CleaningRules,
    clean_text,
    load_rules,
    similarity,
)

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
RULES_FILE = CORPUS / "cleaning.toml"


def corpus_text(name: str) -> str:
    """The raw text of one corpus file, found by its numeric prefix ("000")."""
    (path,) = CORPUS.glob(f"{name}_*.txt")
    return path.read_text(encoding="utf-8")


def flat(text: str) -> str:
    """NFKC text with whitespace runs collapsed, to compare against raw sources."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


@pytest.fixture(scope="module")
def rules() -> CleaningRules:
    return load_rules(RULES_FILE)


# --- golden tests on the corpus ------------------------------------------------------------


@dataclass(frozen=True)
class Golden:
    """What cleaning one corpus file must remove and keep."""

    name: str
    gone: tuple[str, ...] = ()  # noise substrings that must not survive
    gone_lines: tuple[str, ...] = ()  # noise lines (compared stripped) that must not survive
    once: tuple[str, ...] = ()  # repeated in the source, kept exactly once
    kept: tuple[str, ...] = ()  # real sentences, word for word
    kept_lines: tuple[str, ...] = ()  # headings, labels and table rows: whole lines, indent kept


GOLDEN = [
    Golden(
        "000",
        gone=("Cover Image Of", "Post a Comment", "Previous Post", "Next Post"),
        once=("IT Strategy vs Digital Strategy : What's The Difference ?",),
        kept=(
            "IT strategy and digital strategy are related but distinct concepts within an "
            "organization's overall strategic framework.",
            "IT strategy might involve decisions about which enterprise resource planning (ERP) "
            "system to implement, how to upgrade network infrastructure, or how to optimize "
            "cloud computing resources.",
            "This includes vendor selection, contract negotiation, and ongoing vendor "
            "relationship management to ensure that external partners align with the "
            "organization's IT goals.",
            "In essence, while IT strategy focuses on the effective management and utilization "
            "of technology resources to support business operations, digital strategy is about "
            "leveraging digital technologies to drive innovation, enhance customer experiences, "
            "and create new business opportunities in the digital age.",
            "In summary, while IT strategy focuses on the effective management and utilization "
            "of technology resources, digital strategy is more concerned with leveraging digital "
            "technologies to drive innovation, enhance customer experiences, and create new "
            "business opportunities.",
            "Digital strategy often encompasses IT strategy but extends beyond it to include a "
            "broader range of digital initiatives aimed at transforming the organization's "
            "operations and achieving its strategic goals in the digital age.",
        ),
        kept_lines=(
            "IT Strategy vs Digital Strategy : What's The Difference ?",
            "1. IT Strategy:",
            "   1. Focus:",
            "Certainly, let's delve a bit deeper into each of these concepts:",
        ),
    ),
    Golden(
        "001",
        gone=(
            "Is Your Company Getting Technology Right?",
            "If you feel like you’re constantly fighting",
            "we can help",
            "Fantastic IT",
            "free consultation",
        ),
        kept=(
            "We believe every organization should have a technology plan and an IT strategy.",
            "If you aren’t sure whether you have both in place – or even what the difference is "
            "– then this quick article is going to give you the answers you need.",
            "What’s the difference between a technology plan and an IT strategy?",
            "It’s a philosophy that helps you when you need to make decisions or set priorities.",
            "They give you focus and clarity on the way you can put your values to work from one "
            "decision or quarter to the next.",
            "You really do have to have both components in place if you’re going to use tech "
            "effectively.",
        ),
        kept_lines=(
            "An IT Strategy Combines Business Goals With Tech Capabilities",
            "Your Technology Plan Should Have Some Tactical Pieces",
        ),
    ),
    Golden(
        "002",
        gone=(
            "Posted by",
            "About Our Company",
            "Digital Strategy Yoga",
            "click here",
            "GET IN TOUCH",
            "609-542-0175",
            "[email protected]",
            "traditional channel messaging need to be synchronized",
            "coordinated across channels",
            "messaged customers differently than",
        ),
        gone_lines=("0",),
        once=(
            "There was no long-term social media strategy that could evolve into social business "
            "concepts.",
        ),
        kept=(
            "Do not confuse digital marketing with a digital strategy.",
            "Mixed messaging: We found that there were messaging discrepancies across channels to "
            "the same audience.",
            "Digital channel messaging and traditional channel messaging needs to be synchronized "
            "to ensure that customer does not get mixed messages.",
            "Finally, the lack of a digital strategy became apparent.",
            "success criteria or business goals created pockets of different assumptions made "
            "across multiple initiatives.",
            "As a result, efforts from requirements to training were duplicated.",
        ),
        kept_lines=(
            "1. Enterprise Level versus Departmental Level",
            "  • Interviewing executives responsible for the initiatives.",
            "Duration: 3 weeks",
            "Key findings:",
        ),
    ),
    Golden(
        "003",
        gone=("germany phone number list", "problem-s ", "Posts: 56", "Joined:"),
        gone_lines=("-",),
        kept=(
            "Strategic Focus and Business Goals: IT's primary focus is on the functional, "
            "efficient, and secure operation of technology to support all business processes.",
            "problem-solving abilities",
            "While both fields demand strong analytical and problem-solving abilities, the "
            "specific skill sets required diverge significantly.",
            "Creative vs. Technical Imperatives: Digital marketing inherently possesses a strong "
            "creative component.",
            "They are not one and the same, nor is one simply a subset of the other.",
            "The future of successful digital enterprise lies not in subsuming one under the "
            "other, but in strategically integrating their unique expertise for a truly holistic, "
            "efficient, and impactful digital strategy.",
        ),
        kept_lines=(
            "Conclusion",
            "The Power of Collaboration: A Holistic and Integrated Approach",
        ),
    ),
    Golden(
        "004",
        kept=(
            "For years, I’ve observed that the terms “digital transformation” and “IT "
            "transformation” are often used interchangeably.",
            "Is your organization modernizing IT systems simply to keep the lights on, or to "
            "power a reimagined future?",
            "In today’s digital economy, the difference between IT transformation and digital "
            "transformation is the difference between doing things better and doing better "
            "things.",
            "The challenge for leaders is not whether to invest in IT or digital transformation, "
            "but how to orchestrate them together as part of a unified, forward-looking strategy "
            "— one that empowers your organization to seize the opportunities of the digital era.",
        ),
        kept_lines=(
            "Defining the Two Transformations",
            "Aspect | IT Transformation | Digital Transformation |",
            "Ownership | CTO, IT department | CEO, CIO, COO, CDO, cross-functional leadership |",
            "Final Thought",
        ),
    ),
]


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda g: g.name)
def test_corpus_file_loses_its_noise_and_keeps_its_sentences(
    golden: Golden, rules: CleaningRules
) -> None:
    raw = corpus_text(golden.name)
    source = flat(raw)
    cleaned = clean_text(raw, rules)
    lines = cleaned.splitlines()
    stripped = {line.strip() for line in lines}

    for noise in golden.gone:
        assert noise in source, f"golden noise {noise!r} is not in the source"
        assert noise not in cleaned, f"noise survived: {noise!r}"
    for noise in golden.gone_lines:
        assert noise in {line.strip() for line in raw.splitlines()}
        assert noise not in stripped, f"noise line survived: {noise!r}"
    for repeated in golden.once:
        assert source.count(repeated) >= 2
        assert cleaned.count(repeated) == 1, f"not kept exactly once: {repeated!r}"
    for sentence in golden.kept:
        assert sentence in cleaned, f"real sentence lost: {sentence!r}"
    for line in golden.kept_lines:
        assert line in lines, f"real line lost or altered: {line!r}"


def test_corpus_sub_item_labels_keep_their_indentation(rules: CleaningRules) -> None:
    lines = clean_text(corpus_text("000"), rules).splitlines()
    for label in ("Focus:", "Scope:", "Objectives:", "Examples:"):
        assert sum(line.endswith(label) for line in lines) == 2
        assert all(line.startswith("   ") for line in lines if line.endswith(label))


def test_corpus_table_rows_stay_one_per_line(rules: CleaningRules) -> None:
    lines = clean_text(corpus_text("004"), rules).splitlines()
    rows = [line for line in lines if line.count("|") >= 2]
    assert len(rows) == 7
    assert rows[0] == "Aspect | IT Transformation | Digital Transformation |"


def test_corpus_file_without_noise_is_unchanged(rules: CleaningRules) -> None:
    raw = corpus_text("004")
    assert clean_text(raw, rules) == raw.rstrip("\n") + "\n"


@pytest.mark.parametrize("name", ["000", "001", "002", "003", "004"])
def test_every_cleaned_sentence_comes_verbatim_from_the_source(
    name: str, rules: CleaningRules
) -> None:
    source = flat(corpus_text(name))
    for pattern, replacement in rules.inline_spam:
        source = pattern.sub(replacement, source)
    for line in clean_text(corpus_text(name), rules).splitlines():
        for sentence, _ in split_sentences(line.strip()):
            assert sentence in source, f"not in the source: {sentence!r}"


@pytest.mark.parametrize("name", ["000", "001", "002", "003", "004"])
def test_clean_text_is_idempotent_on_the_corpus(name: str, rules: CleaningRules) -> None:
    once = clean_text(corpus_text(name), rules)
    assert clean_text(once, rules) == once


# --- generic rules -------------------------------------------------------------------------

TITLE = "IT Strategy vs Digital Strategy: What's the Difference?"


def test_repeated_title_line_is_kept_once() -> None:
    text = f"{TITLE}\n\n{TITLE}\n\nIT strategy and digital strategy are related.\n"
    assert clean_text(text) == f"{TITLE}\n\nIT strategy and digital strategy are related.\n"


def test_repeated_paragraph_is_kept_once() -> None:
    paragraph = "Costs fell sharply. The team shipped two new products in one quarter."
    text = f"{paragraph}\n\nSomething else happened.\n\n{paragraph}\n"
    assert clean_text(text) == f"{paragraph}\n\nSomething else happened.\n"


def test_repeated_sub_item_labels_and_list_items_are_kept() -> None:
    text = (
        "1. IT Strategy:\n   1. Focus:\nSupport the business.\n   2. Scope:\nAll systems.\n"
        "2. Digital Strategy:\n   1. Focus:\nTransform the business.\n   2. Scope:\nAll channels.\n"
        "- Cost savings\n- Cost savings\nPros\nPros\n"
    )
    assert clean_text(text) == text


def test_near_duplicate_sentence_is_dropped_and_the_rest_of_the_paragraph_kept() -> None:
    text = (
        "Mixed messaging: The campaigns need to be coordinate across channels in order to ensure "
        "that the required customer action is connected with the intended business objectives.\n"
        "\n"
        "Finally, the lack of a strategy became apparent. The campaigns need to be coordinated "
        "across channels in order to ensure that the required customer action is connected with "
        "the intended business objectives. success criteria were never agreed.\n"
    )
    cleaned = clean_text(text)
    assert cleaned.splitlines()[-1] == (
        "Finally, the lack of a strategy became apparent. success criteria were never agreed."
    )
    assert "coordinated" not in cleaned


def test_similar_but_distinct_sentences_are_both_kept() -> None:
    essence = (
        "In essence, while IT strategy focuses on the effective management and utilization of "
        "technology resources to support business operations, digital strategy is about "
        "leveraging digital technologies to drive innovation, enhance customer experiences, and "
        "create new business opportunities in the digital age."
    )
    summary = (
        "In summary, while IT strategy focuses on the effective management and utilization of "
        "technology resources, digital strategy is more concerned with leveraging digital "
        "technologies to drive innovation, enhance customer experiences, and create new business "
        "opportunities."
    )
    assert similarity(essence, summary) < 0.9
    text = f"{essence}\n\n{summary}\n"
    assert clean_text(text) == text


def test_short_repeated_sentences_are_kept() -> None:
    text = "Costs rose. Revenue fell in the first half.\n\nCosts rose. Margins recovered later.\n"
    assert clean_text(text) == text


def test_sentence_splitting_keeps_abbreviations_and_list_numbers_together() -> None:
    body = "1. Focus: Creative vs. Technical, e.g. design. Then the U.S. team met, etc. and more."
    pieces = split_sentences(body)
    assert "".join(s + sep for s, sep in pieces) == body
    assert [s for s, _ in pieces] == [
        "1. Focus: Creative vs. Technical, e.g. design.",
        "Then the U.S. team met, etc. and more.",
    ]


@pytest.mark.parametrize("noise", ["-", "0", "7", "•", "*", "|", "—"])
def test_lone_punctuation_or_digit_line_is_dropped(noise: str) -> None:
    assert clean_text(f"Real text here.\n{noise}\nMore text.\n") == "Real text here.\nMore text.\n"


def test_short_real_lines_are_kept() -> None:
    text = "Duration: 3 weeks\n\nKey findings:\n\nConclusion\n\nFinal Thought\n\n10\n"
    assert clean_text(text) == text


@pytest.mark.parametrize("byline", ["Posted by:", "Posted by", "By:", "Written by :"])
def test_empty_byline_is_dropped(byline: str) -> None:
    assert clean_text(f"Title\n\n{byline}\n\nBody text.\n") == "Title\n\nBody text.\n"


def test_byline_with_an_author_is_kept() -> None:
    assert clean_text("Posted by: Jane Doe\n") == "Posted by: Jane Doe\n"


@pytest.mark.parametrize(
    "footer",
    [
        "Post a Comment",
        "Previous Post",
        "Next Post",
        "Previous Post Next Post",
        "Newer Post Older Post Home",
        "Share this",
        "Share this article:",
        "Share on Facebook",
        "Leave a Reply",
        "Leave a comment",
        "No comments:",
        "3 Comments",
        "Subscribe to: Post Comments (Atom)",
    ],
)
def test_blog_footer_line_is_dropped(footer: str) -> None:
    assert clean_text(f"The last real sentence.\n\n{footer}\n") == "The last real sentence.\n"


def test_forum_footer_is_dropped() -> None:
    text = "The Power of Collaboration\n-\n- Posts: 56\n- Joined: Thu May 22, 2025 5:10 am\n"
    assert clean_text(text) == "The Power of Collaboration\n"


@pytest.mark.parametrize(
    "contact",
    [
        "Call us today at 609-542-0175 Or email us at [email protected]",
        "Call (609) 542-0175 for details.",
        "Reach our London office on +44 20 7946 0958.",
        "Write to sales@example.com for a quote.",
        "For more information, click here",
    ],
)
def test_contact_sentence_is_dropped(contact: str) -> None:
    text = f"We help clients reinvent their models. {contact}\n"
    assert clean_text(text) == "We help clients reinvent their models.\n"


def test_numbers_in_prose_are_not_phone_numbers() -> None:
    text = "Between 2019-2020 and 2024, revenue grew 3-5 percent, 100 200 times over 5 years.\n"
    assert clean_text(text) == text


def test_whitespace_and_unicode_are_normalised() -> None:
    text = (
        "\ufeffTitle\u00a0line  \r\n\r\n"
        "\u00a0 \u00a01.\u00a0Focus:\u00a0 \r\n"
        "\tTabbed\tline\u200b with  zero\u200dwidth.\t\n"
        "ﬁne ligature\r\n"
    )
    assert clean_text(text) == (
        "Title line\n\n   1. Focus:\n    Tabbed line with zerowidth.\nfine ligature\n"
    )


def test_blank_lines_are_collapsed_and_text_ends_with_one_newline() -> None:
    text = "\n\n  \nHeading\n\n\n\n\u00a0\n\nParagraph.\n\n\n"
    assert clean_text(text) == "Heading\n\nParagraph.\n"


def test_text_with_nothing_real_cleans_to_empty() -> None:
    assert clean_text("") == ""
    assert clean_text("\n-\nPost a Comment\n0\n") == ""


def test_messy_text_cleaning_is_idempotent() -> None:
    text = (
        f"{TITLE}\n{TITLE}\nPosted by:\n\u00a0\nA first sentence that has more than eight words "
        "in it. etc. Another sentence follows here.\nA first sentence that has more than eight "
        "words in it! Call 609-542-0175.\n0\n| a | b |\n| a | b |\nPrevious Post Next Post"
    )
    once = clean_text(text)
    assert clean_text(once) == once


# --- corpus-specific rules -----------------------------------------------------------------


def test_inline_spam_inside_a_word_is_removed(rules: CleaningRules) -> None:
    text = "Both demand strong analytical and problem-s germany phone number list olving skills.\n"
    expected = "Both demand strong analytical and problem-solving skills.\n"
    assert clean_text(text, rules) == expected


def test_drop_from_removes_the_trailer_to_the_end() -> None:
    rules = CleaningRules(drop_from=(re.compile("About Our Company:"),))
    text = "Real ending.\n\nAbout Our Company:\n\nWe sell things.\n\nGET IN TOUCH!\n"
    assert clean_text(text, rules) == "Real ending.\n"


def test_drop_lines_and_drop_sentences_apply(rules: CleaningRules) -> None:
    text = (
        "Cover Image Of Some Title\nYou need both.\n"
        "Is Your Company Getting Technology Right?\n"
        "If you feel like you’re constantly fighting with your hardware and software, we can "
        "help. Contact the experts at Fantastic IT today.\n"
    )
    assert clean_text(text, rules) == "You need both.\n"


def test_generic_rules_alone_leave_corpus_specific_noise() -> None:
    assert clean_text("Cover Image Of Some Title\n") == "Cover Image Of Some Title\n"
    assert clean_text("Cover Image Of Some Title\n", EMPTY_RULES) == "Cover Image Of Some Title\n"


# --- load_rules ----------------------------------------------------------------------------


def test_default_rules_file_is_the_corpus_one() -> None:
    rules = load_rules()
    assert rules == load_rules(RULES_FILE)
    assert rules.drop_lines and rules.drop_from and rules.drop_sentences and rules.inline_spam


def test_missing_rules_file_gives_empty_rules(tmp_path: Path) -> None:
    assert load_rules(tmp_path / "nope.toml") == EMPTY_RULES


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("drop_lines = ['unclosed", "malformed"),
        ("drop_lines = ['(unbalanced']", "drop_lines[0]"),
        ("drop_lines = 'not a list'", "must be an array"),
        ("drop_lines = [3]", "drop_lines[0]"),
        ("drop_sentences = ['x*']", "matches empty text"),
        ("drop_line = ['typo']", "unknown key"),
        ("[[inline_spam]]\nreplacement = ''", "inline_spam[0].pattern"),
        ("[[inline_spam]]\npattern = 'x'\nreplace = ''", "inline_spam[0]"),
    ],
)
def test_malformed_rules_file_raises_value_error_naming_it(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "cleaning.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(str(path))) as excinfo:
        load_rules(path)
    assert problem in str(excinfo.value)
