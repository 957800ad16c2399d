"""Ranking metrics against a tiny example worked out by hand: checks that ir_measures is called right."""
import math

import pytest

from search.metrics import evaluate_run, per_query

QRELS = {
    "q1": {"d1": 1, "d2": 1},
    "q2": {"d3": 2, "d4": 1},
    "q3": {"d7": 1},
    "q4": {"d8": 0},  # no relevant document: left out, as BEIR does
}
RUN = {
    "q1": {"d5": 0.9, "d1": 0.8, "d6": 0.7, "d2": 0.6},
    "q2": {"d4": 0.9, "d3": 0.5},
    "q3": {**{f"x{i:02d}": 1.0 - i / 100 for i in range(10)}, "d7": 0.01},  # relevant at rank 11
    "q4": {"d8": 1.0},
}


def one(qid: str, name: str, run=RUN) -> float:
    return per_query({qid: run[qid]}, {qid: QRELS[qid]}, (name,))[qid][name]


def test_ndcg_by_hand():
    # q1: relevant at ranks 2 and 4 -> (1/log2 3 + 1/log2 5) / (1 + 1/log2 3)
    assert one("q1", "ndcg@10") == pytest.approx(1.0616063 / 1.6309298, abs=1e-6)
    # q2: grade 1 at rank 1, grade 2 at rank 2 -> (1 + 2/log2 3) / (2 + 1/log2 3)
    assert one("q2", "ndcg@10") == pytest.approx(2.2618595 / 2.6309298, abs=1e-6)
    assert one("q3", "ndcg@10") == 0.0


def test_recall_and_mrr_by_hand():
    assert one("q1", "recall@10") == 1.0
    assert one("q1", "recall@2") == 0.5
    assert one("q3", "recall@10") == 0.0
    assert one("q3", "recall@100") == 1.0
    assert one("q1", "mrr@10") == 0.5
    assert one("q2", "mrr@10") == 1.0
    assert one("q3", "mrr@10") == 0.0


def test_means_leave_out_unjudged_queries():
    assert set(per_query(RUN, QRELS)) == {"q1", "q2", "q3"}
    scores = evaluate_run(RUN, QRELS)
    assert scores["ndcg@10"] == pytest.approx((0.6509209 + 0.8597186 + 0.0) / 3, abs=1e-6)
    assert scores["recall@10"] == pytest.approx(2 / 3)
    assert scores["recall@100"] == pytest.approx(1.0)
    assert scores["mrr@10"] == pytest.approx(0.5)


def test_missing_query_in_run_scores_zero():
    scores = evaluate_run({}, {"q1": {"d1": 1}})
    assert scores == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    # and it counts in the mean rather than being skipped
    assert evaluate_run({"q2": RUN["q2"]}, {"q1": {"d1": 1}, "q2": QRELS["q2"]})["mrr@10"] == pytest.approx(0.5)


def test_ties_break_by_descending_id_like_trec_eval():
    # "b" ranks above "a" on a tie, so a tie can move a relevant document down, in every measure
    tie = {"q": {"a": 1.0, "b": 1.0}}
    assert per_query(tie, {"q": {"a": 1}}, ("ndcg@10",))["q"]["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert per_query(tie, {"q": {"b": 1}}, ("ndcg@10",))["q"]["ndcg@10"] == 1.0
    assert per_query(tie, {"q": {"a": 1}}, ("mrr@10",))["q"]["mrr@10"] == 0.5
    assert per_query(tie, {"q": {"b": 1}}, ("mrr@10",))["q"]["mrr@10"] == 1.0


def test_hand_constants():
    assert 1 / math.log2(3) + 1 / math.log2(5) == pytest.approx(1.0616063, abs=1e-7)
    assert 1 + 2 / math.log2(3) == pytest.approx(2.2618595, abs=1e-7)
