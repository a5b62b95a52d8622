"""The tuned numbers of the pipeline, in one place (tuned on the dev split: evals/tune.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Calibration:
    """Thresholds tuned on the dev split of the evaluation set (see evals/tune.py)."""

    abstain_below: float = 0.30  # evidence score under which we abstain
    lexical_weight: float = 0.25  # weight of question-term coverage in the evidence score
    unit_floor: float = 0.30  # weakest unit score we quote
    classify_margin: float = 0.015  # added to the IT side's score (dev plateau 0.01–0.02)
    classify_both_gap: float = 0.02  # how much more IT-like the means must read than the purpose
    classify_both_means: float = -0.03  # least IT-lean of a `both`'s means (dev: -0.06…-0.02)
    classify_example_weight: float = 0.5  # share of the written examples (dev plateau 0.4–0.6)
    # nearness below which text is no IT/digital initiative (dev: non-initiatives ≤ 0.281,
    # initiatives ≥ 0.313)
    initiative_floor: float = 0.30
