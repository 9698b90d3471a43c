"""The cohort check: an ACCEPT is held against every enrolled template, not only the known
look-alikes, and the verifier's copy of the cohort follows the store."""

from __future__ import annotations

import numpy as np
import pytest
from face_stubs import FrameAnalyzer, analysis, checkin, mix, template, unit

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core.cohort import REREAD_AFTER_S, Cohort, CohortCache, pair_rate
from examgate.core.matching import Analysis, judge
from examgate.core.policy import ACCEPT, REVIEW, LivenessCheck, Thresholds
from examgate.core.ports import Template, TemplateStoreError
from examgate.core.verify import Verifier

T = Thresholds(accept=0.5, reject=0.3, replay=0.98)
RNG = np.random.default_rng(11)
LIVE = LivenessCheck(0.95, 0.8, 0.3)


ANNA, BEA, CARL = (unit(RNG.normal(size=128)) for _ in range(3))
# Bea at the gate today, in a light that makes her fit Anna's template above the accept
# threshold; her own template fits her better still. Anna's and Bea's enrollment photos are
# not alike (cosine near 0), so neither is on the other's look-alike list.
BEA_TODAY = mix(BEA, ANNA, 0.55)


def _template(student: str, emb: np.ndarray, version: str = "1") -> Template:
    return template(student, emb, RNG, version)


def _analysis(emb: np.ndarray) -> Analysis:
    return analysis(emb, RNG)


def test_the_scenario_is_an_enrolled_impostor_the_look_alike_lists_miss():
    assert float(ANNA @ BEA) < T.reject  # not look-alikes at enrollment
    assert float(ANNA @ BEA_TODAY) >= T.accept  # but she fits Anna's template today
    assert float(BEA @ BEA_TODAY) >= float(ANNA @ BEA_TODAY)


def test_best_other_leaves_out_the_claimed_student_and_other_versions():
    cohort = Cohort.of("1", [_template("anna", ANNA), _template("bea", BEA),
                             _template("carl", CARL), _template("bea-v2", BEA, version="2")])
    assert cohort.students == ("anna", "bea", "carl")
    student, score = cohort.best_other(BEA_TODAY, "anna")
    assert student == "bea" and score == pytest.approx(float(BEA @ BEA_TODAY), abs=1e-6)
    assert cohort.best_other(BEA_TODAY, "bea")[0] == "anna"
    assert cohort.without("bea").best_other(BEA_TODAY, "anna")[0] == "carl"
    assert Cohort.of("1", [_template("anna", ANNA)]).best_other(ANNA, "anna") is None
    assert Cohort.of("1", []).best_other(ANNA, "anna") is None
    assert Cohort.of("1", [_template("anna", ANNA)]).without("anna").students == ()


def test_an_enrolled_impostor_off_the_look_alike_list_goes_to_a_proctor():
    anna = _template("anna", ANNA)
    cohort = Cohort.of("1", [anna, _template("bea", BEA), _template("carl", CARL)])
    alone, sim = judge(_analysis(BEA_TODAY), anna, T, LIVE)
    assert alone.outcome == ACCEPT and sim >= T.accept  # what happened before
    held, _ = judge(_analysis(BEA_TODAY), anna, T, LIVE, cohort=cohort)
    assert (held.outcome, held.reason) == (REVIEW, "LOOKALIKE")
    assert "bea" in held.detail and "did not look alike" in held.detail
    # If Bea were a stand-in from outside, the check could not see her: ACCEPT.
    assert judge(_analysis(BEA_TODAY), anna, T, LIVE,
                 cohort=cohort.without("bea"))[0].outcome == ACCEPT
    # Anna herself, today: far closer to her own template than to anyone else's.
    anna_today = mix(ANNA, unit(RNG.normal(size=128)), 0.85)
    assert judge(_analysis(anna_today), anna, T, LIVE, cohort=cohort)[0].outcome == ACCEPT


def _decide(verifier: Verifier, frame: bytes, student: str) -> tuple[str, str]:
    d = verifier.verify(checkin(frame, student)).decision
    return d["outcome"], d["reason"]


def test_the_verifier_sees_students_enrolled_after_it_started_and_can_be_told_not_to():
    store = MemoryTemplateStore()
    store.put(_template("anna", ANNA))
    frames = {b"bea-today": BEA_TODAY}
    verifier = Verifier(store, MemoryObjectStore(), "frames", FrameAnalyzer(frames, T, RNG))
    # Time stands still: the copy follows the change counter alone (no READ_SHARE wait).
    verifier.cohorts = CohortCache(store, clock=lambda: 0.0)
    assert _decide(verifier, b"bea-today", "anna") == ("ACCEPT", "MATCH")  # Bea not enrolled
    store.put(_template("bea", BEA))  # enrolled now: the next check-in sees her
    assert _decide(verifier, b"bea-today", "anna") == ("REVIEW", "LOOKALIKE")
    off = Verifier(store, MemoryObjectStore(), "frames", FrameAnalyzer(frames, T, RNG),
                   cohort_check=False)
    assert _decide(off, b"bea-today", "anna") == ("ACCEPT", "MATCH")
    store.delete_student("bea")  # erased: no longer held against anyone
    assert _decide(verifier, b"bea-today", "anna") == ("ACCEPT", "MATCH")


def test_a_cohort_that_cannot_be_read_fails_closed():
    class Unreadable(MemoryTemplateStore):
        def generation(self, model_version: str) -> int | None:
            raise TemplateStoreError("redis went away")

    store = Unreadable()
    store.put(_template("anna", ANNA))
    verifier = Verifier(store, MemoryObjectStore(), "frames", FrameAnalyzer({b"a": ANNA}, T, RNG))
    assert _decide(verifier, b"a", "anna") == ("REVIEW", "TEMPLATE_UNAVAILABLE")


class _Counting(MemoryTemplateStore):
    """Counts whole-cohort reads; ``read_s`` of the fake clock ``now`` pass during each."""

    def __init__(self, counter: bool = True, read_s: float = 0.0) -> None:
        super().__init__()
        self.reads, self.counter, self.read_s, self.now = 0, counter, read_s, 0.0

    def get_many(self, student_ids, model_version):
        self.reads += 1
        self.now += self.read_s
        return super().get_many(student_ids, model_version)

    def generation(self, model_version: str) -> int | None:
        return super().generation(model_version) if self.counter else None


def test_the_cohort_is_read_again_only_when_the_store_changed():
    store = _Counting()
    store.put(_template("anna", ANNA))
    cache = CohortCache(store, clock=lambda: store.now)
    assert cache.get("1").students == ("anna",) and cache.get("1") is cache.get("1")
    assert store.reads == 1
    store.put(_template("bea", BEA))
    assert cache.get("1").students == ("anna", "bea") and store.reads == 2
    assert cache.get("2").students == () and store.reads == 3  # each version on its own


def test_a_store_without_a_change_counter_is_read_again_after_a_while():
    store = _Counting(counter=False)
    store.put(_template("anna", ANNA))
    cache = CohortCache(store, clock=lambda: store.now)
    cache.get("1")
    store.put(_template("bea", BEA))
    store.now = REREAD_AFTER_S / 2
    assert cache.get("1").students == ("anna",) and store.reads == 1
    store.now = REREAD_AFTER_S + 1
    assert cache.get("1").students == ("anna", "bea") and store.reads == 2


def test_while_templates_keep_changing_a_slow_read_is_not_repeated_at_once():
    store = _Counting(read_s=0.5)  # reading the cohort takes 0.5 s (10,000 templates)
    store.put(_template("anna", ANNA))
    cache = CohortCache(store, clock=lambda: store.now)
    cache.get("1")
    store.put(_template("bea", BEA))
    store.now += 1.0  # within 10x the last read: the copy held is used meanwhile
    assert cache.get("1").students == ("anna",) and store.reads == 1
    store.now += 5.0
    assert cache.get("1").students == ("anna", "bea") and store.reads == 2


def _cohort(n: int, dim: int = 16, seed: int = 0) -> Cohort:
    emb = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return Cohort("1", tuple(f"s{i}" for i in range(n)), emb)


def test_the_pair_rate_counts_every_pair_of_students_once_in_any_chunking():
    cohort = _cohort(300)
    scores = (cohort.embeddings @ cohort.embeddings.T)[np.triu_indices(300, 1)]
    for rows in (1, 7, 64, 1024):
        rate = pair_rate(cohort, 0.6, 1e-3, rows=rows)
        assert (rate.students, rate.pairs) == (300, scores.size)
        assert rate.at_or_above == int(np.sum(scores >= 0.6))
        # The threshold it names holds the target among them, and nothing lower does.
        needed = rate.threshold_for_target
        assert np.mean(scores >= needed) <= 1e-3 < np.mean(scores >= np.float32(needed) - 1e-6)
    assert rate.too_alike  # 16-D random faces are far more alike than 1 in 1,000 at 0.6
    assert rate.ci95[0] <= rate.rate <= rate.ci95[1]


def test_the_pair_rate_compares_first_photos_as_the_threshold_was_calibrated():
    """A template averaged over several photos spreads its scores less than the one photo a
    person the accept threshold was calibrated on: counted on such templates, two students
    whose photos are alike would not be seen (an under-count is the unsafe way to be wrong)."""
    rng = np.random.default_rng(5)
    first = unit(rng.normal(size=128))
    alike = mix(first, unit(rng.normal(size=128)), 0.75)  # the other student's first photo
    assert float(first @ alike) >= 0.5
    cohort = Cohort.of("1", [
        Template.from_embeddings(s, "1", np.stack([f, unit(rng.normal(size=128))]))
        for s, f in (("dora", first), ("edda", alike))])
    assert float(cohort.embeddings[0] @ cohort.embeddings[1]) < 0.5  # their templates: not
    assert pair_rate(cohort, 0.5, 1e-4).at_or_above == 1


def test_a_small_cohort_cannot_measure_the_promise_and_an_unalike_one_is_not_flagged():
    small = pair_rate(_cohort(40, dim=128), 0.45, 1e-4)  # 780 pairs: under 1 / 1e-4
    assert small.threshold_for_target is None and not small.too_alike
    assert small.at_or_above == 0  # random 128-D templates stay far below 0.45
    assert pair_rate(_cohort(1), 0.45, 1e-4).pairs == 0
    assert pair_rate(_cohort(1), 0.45, 1e-4).rate is None
