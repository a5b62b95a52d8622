"""The tuned numbers of the pipeline, in one place (tuned on the dev split: evals/tune.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Calibration:
    """Thresholds tuned on the dev split of the evaluation set (see evals/tune.py)."""

    abstain_below: float = 0.30  # evidence score under which we abstain
    lexical_weight: float = 0.25  # weight of question-term coverage in the evidence score
    # does a passage answer the ask (bot/answer/relevance.py)? The best sentence's nearness
    # plus cover_weight × the share of the question's specific words one sentence holds
    cover_weight: float = 0.5
    relevance_min: float = 0.669  # dev: off-topic max 0.650, answerable min 0.719
    unit_floor: float = 0.30  # weakest unit score we quote
    classify_margin: float = 0.0  # added to the IT side's score (dev plateau 0.0 at weight 0.5)
    classify_both_gap: float = 0.02  # how much more IT-like the means must read than the purpose
    classify_both_means: float = 0.0  # least IT-lean of a `both`'s means (dev: -0.02…0.0)
    classify_example_weight: float = 0.5  # share of the examples' separator (dev: 0.5 at scale 0.2)
    # how much nearer the written initiatives than the written non-initiatives text must lie
    # to be classified (dev: initiatives ≥ 0.125, non-initiatives ≤ -0.028)
    initiative_floor: float = 0.05
