"""The enrolled cohort of a model version: is the face at the gate another enrolled student's?

The look-alike lists (:mod:`examgate.core.lookalikes`) hold, per template, the students
whose *templates* resemble it, found at enrollment. An enrolled impostor's face at the
gate can fit the claimed student's template while their own template is not on that
list (their enrollment photo looked less alike than today's capture). So an ACCEPT is
also held against every template of the version: when another enrolled student fits the
face at least as well, within the look-alike margin, it becomes REVIEW ``LOOKALIKE``
(:func:`examgate.core.lookalikes.guard`). One matrix product a check-in: 10,000
students of 128 floats are 5 MB, well under a millisecond.

Measured on the 3,617 held-out LFW people (one mirrored template each, their other 2,931
photos claimed as everyone, served thresholds; ``benchmarks/trials/cohort_check.py``): of
244 false accepts between enrolled people, the look-alike lists stop 123 and the whole
cohort 232; genuine ACCEPTs sent to a proctor: 5 and 15 of 2,877. It does nothing against
someone who is not enrolled: their false-accept rate is the threshold's, per comparison.

That threshold was calibrated on LFW's news photos; students of one university, photographed
by one kind of camera, can be more alike, and then its false-accept rate is higher among
them. So the served accept threshold is raised by how far the cohort's own upper tail of
template-pair scores lies above the calibration people's (:func:`thresholds_among`; never
lowered). The tail is the score above which 1 % of the pairs lie: measurable from 40
students (780 pairs), where the false-accept point itself would need 142. It is read from
each student's first enrollment photo alone, as the calibration people's is from one photo
each: a template averaged over several photos spreads its scores less (held-out LFW,
three photos: the pairs' 1 % point 0.275 against one photo's 0.310), which says how many
photos were taken, not how alike the students are. Measured on held-out LFW
cohorts of one gender (``benchmarks/trials/tail_shift.py``, 20 draws a size): women, whose
FAR this model misses, 1.5-1.9e-4 at the calibrated threshold, 6.5-9.7e-5 raised (accept
0.459 -> 0.484-0.487, genuine accepts 0.2-1.3 points fewer); men's and mixed cohorts'
thresholds move by at most 0.006.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from examgate.core.intervals import wilson_interval
from examgate.core.policy import Thresholds
from examgate.core.ports import Template, TemplateStore

log = logging.getLogger("examgate.cohort")
REREAD_AFTER_S = 30.0  # stores without a change counter: read the cohort again this often
# Reading the cohort takes at most this share of a worker's time: while templates are
# stored one after another (a re-embedding for a canary, a roster enrolled during an exam),
# the copy is read again no sooner than 10x its last read took (0.5 s at 10,000 students,
# so every ~5 s; at 600, every ~0.35 s). The look-alike lists are always read fresh.
READ_SHARE = 0.1
TAIL_SHARE = 0.01  # the share of template pairs above a cohort's tail score
TAIL_MIN_STUDENTS = 40  # fewer: no tail measured, the version's threshold as calibrated
# A larger cohort's tail is read from this many of its templates: 2 million pairs, ~0.1 s,
# rather than 50 million at 10,000 students. Chosen by a hash of each student's id, so an
# enrollment changes the draw by one student at most, not all of it.
TAIL_SAMPLE = 2000
TAIL_LOGGED_MOVE = 0.002  # the workers' log says so when a cohort's tail moves this much


def tail_score(templates: np.ndarray, keys: Sequence[str], share: float = TAIL_SHARE,
               sample: int = TAIL_SAMPLE) -> float | None:
    """The score above which ``share`` of the pairs of different rows of ``templates``
    (unit vectors; ``keys``: whose each row is) lie; None for fewer than
    :data:`TAIL_MIN_STUDENTS` rows. Above ``sample`` rows, the ``sample`` whose keys hash
    lowest."""
    rows = np.asarray(templates, np.float32)
    if len(rows) != len(keys):
        raise ValueError(f"{len(keys)} keys for {len(rows)} templates")
    if len(rows) < TAIL_MIN_STUDENTS:
        return None
    if len(rows) > sample:
        hashes = np.array([zlib.crc32(k.encode()) for k in keys], np.uint64)
        rows = rows[np.sort(np.argsort(hashes, kind="stable")[:sample])]
    scores = (rows @ rows.T)[np.triu_indices(len(rows), 1)]
    return float(np.quantile(scores, 1.0 - share))


@dataclass(frozen=True)
class Cohort:
    """The templates of one model version: student ids and their (N, D) embeddings."""

    model_version: str
    students: tuple[str, ...]
    embeddings: np.ndarray
    # Each student's first enrollment photo alone, as a one-photo template: what the tail is
    # read from (None: the templates themselves, as when each has one photo).
    first_photos: np.ndarray | None = None

    @classmethod
    def of(cls, model_version: str, templates: Iterable[Template]) -> Cohort:
        """The cohort of ``templates`` of ``model_version`` (others are left out: embeddings of
        different versions are never compared)."""
        kept = [t for t in templates if t.model_version == model_version]
        if not kept:
            return cls(model_version, (), np.zeros((0, 0), np.float32))
        firsts = [t.image_embeddings[0] if len(t.image_embeddings) else t.embedding
                  for t in kept]
        return cls(model_version, tuple(t.student_id for t in kept),
                   np.stack([t.embedding for t in kept]).astype(np.float32),
                   np.stack(firsts).astype(np.float32))

    def without(self, student_id: str) -> Cohort:
        """The same cohort as if ``student_id`` were not enrolled."""
        keep = [i for i, s in enumerate(self.students) if s != student_id]
        if not keep:
            return Cohort(self.model_version, (), np.zeros((0, 0), np.float32))
        return Cohort(self.model_version, tuple(self.students[i] for i in keep),
                      self.embeddings[keep],
                      None if self.first_photos is None else self.first_photos[keep])

    def best_other(self, probe: np.ndarray, claimed: str) -> tuple[str, float] | None:
        """The enrolled student other than ``claimed`` whose template fits ``probe`` best,
        and how well; None when there is nobody else."""
        if not self.students:
            return None
        scores = self.embeddings @ np.asarray(probe, np.float32)
        with contextlib.suppress(ValueError):  # the claimed student is not in this cohort
            scores[self.students.index(claimed)] = -np.inf
        best = int(np.argmax(scores))
        return None if scores[best] == -np.inf else (self.students[best], float(scores[best]))

    @property
    def one_photo_each(self) -> np.ndarray:
        """Each student's first photo (the templates when not known): compared with one
        another, these are what the version's thresholds were calibrated on."""
        return self.embeddings if self.first_photos is None else self.first_photos

    @functools.cached_property
    def tail(self) -> float | None:
        """:func:`tail_score` of the students' first photos (None: too few students)."""
        return tail_score(self.one_photo_each, self.students)


def thresholds_among(thresholds: Thresholds, cohort: Cohort | None) -> Thresholds:
    """The thresholds to serve among ``cohort``'s students: the accept threshold raised by
    how far their tail lies above the calibration people's, never lowered, at most to just
    below the replay threshold. As calibrated when either tail is unknown (a version
    registered before tails were measured; fewer than 40 students)."""
    tail = None if cohort is None else cohort.tail
    if tail is None or thresholds.cohort_tail is None or tail <= thresholds.cohort_tail:
        return thresholds
    ceiling = float(np.nextafter(thresholds.replay, -1.0))
    return dataclasses.replace(thresholds, accept=min(
        thresholds.accept + tail - thresholds.cohort_tail, ceiling))


def tail_in_words(calibrated: Thresholds, served: Thresholds, cohort: Cohort) -> str:
    """Why ``served`` (:func:`thresholds_among` ``cohort``) is what it is, against the
    version's ``calibrated`` thresholds, for the registrar."""
    accept = f"Accept threshold {served.accept:.4f} among these students"
    if calibrated.cohort_tail is None:
        return (f"{accept}: model version {cohort.model_version} was registered before the "
                "calibration people's pair scores were kept, so nothing is added for them.")
    if cohort.tail is None:
        return (f"{accept}: under {TAIL_MIN_STUDENTS} students enrolled, too few to compare "
                "their pair scores with the calibration people's.")
    shift = cohort.tail - calibrated.cohort_tail
    words = (f"1% of the pairs of their first photos score above {cohort.tail:.4f}; of the "
             f"calibration people's, above {calibrated.cohort_tail:.4f}")
    if shift <= 0:
        return f"{accept}: {words}, so nothing is added for them."
    return (f"{accept}: the version's {calibrated.accept:.4f} + {shift:.4f} (or "
            f"checkin.accept_at_least where higher), for students more alike than the "
            f"calibration people: {words}.")


@dataclass(frozen=True)
class PairRate:
    """How often two different enrolled students' templates score at or above a threshold:
    the false-accept rate among the people actually enrolled, with no label needed (every
    pair is two students). On held-out LFW it is the gate's own rate to within 15 % (pairs
    of templates 2.6e-5, probes against templates 2.3e-5; women 1.6e-4 against 1.5e-4)."""

    students: int
    pairs: int
    at_or_above: int
    threshold: float
    target: float
    # The lowest threshold at which the pairs' rate is at most ``target``; None when there
    # are too few pairs to measure it (fewer than 1 / target).
    threshold_for_target: float | None

    @property
    def rate(self) -> float | None:
        return self.at_or_above / self.pairs if self.pairs else None

    @property
    def ci95(self) -> tuple[float, float] | None:
        return wilson_interval(self.at_or_above, self.pairs) if self.pairs else None

    @property
    def too_alike(self) -> bool:
        """Whether even the interval's lower end is above twice the target, with pairs
        enough to measure it: these students are more alike than the people the threshold
        was calibrated on."""
        ci = self.ci95
        return ci is not None and ci[0] > 2 * self.target \
            and self.threshold_for_target is not None

    def in_words(self) -> str:
        """The check and what to do about it, for the registrar's report and the console."""
        if self.pairs == 0:
            return "Threshold check: fewer than two students enrolled, nothing to compare."
        low, high = self.ci95 or (0.0, 0.0)
        words = (f"Threshold check: of the {self.pairs:,} pairs of the {self.students:,} "
                 f"enrolled students (their first photos), {self.at_or_above:,} score at or "
                 f"above the accept threshold {self.threshold:.4f}: {self.rate:.1e} "
                 f"(95% {low:.1e}-{high:.1e}; "
                 f"the promise is {self.target:.0e})")
        needed = self.threshold_for_target
        if needed is None:
            return f"{words}; too few students to measure the promise itself (under " \
                   f"{1 / self.target:,.0f} pairs)."
        if needed <= self.threshold:
            return f"{words}; among them it holds down to {needed:.4f} (a served threshold " \
                   "is never lowered)."
        if not self.too_alike:
            return f"{words}; among them it would need {needed:.4f}, though the interval " \
                   "does not rule out chance: check it on their photos (examgate evaluate)."
        return (f"{words}. These students are more alike than the people the threshold was "
                f"calibrated on: among them the promise needs an accept threshold of "
                f"{needed:.4f}. Check it on their photos (examgate evaluate) and set "
                f"checkin.accept_at_least (EXAMGATE_CHECKIN__ACCEPT_AT_LEAST) to serve it.")


def pair_rate(cohort: Cohort, threshold: float, target: float, rows: int = 1024) -> PairRate:
    """:class:`PairRate` of ``cohort`` at ``threshold``: pairs of the students' first photos,
    as the threshold was calibrated (:attr:`Cohort.one_photo_each`; a template averaged over
    several photos spreads its scores less and would under-count). ``rows`` photos at a
    time, so that 10,000 students need 40 MB, not 400."""
    photos = cohort.one_photo_each
    n = len(cohort.students)
    pairs = n * (n - 1) // 2
    allowed = int(np.floor(target * pairs + 1e-9))
    keep = allowed + 1  # the highest pair scores: the (allowed+1)-th must be refused
    top = np.zeros(0, np.float32)
    above = 0
    for start in range(0, n, rows):
        block = photos[start:start + rows] @ photos.T
        upper = block[np.arange(len(block))[:, None] + start < np.arange(n)[None, :]]
        above += int(np.count_nonzero(upper >= threshold))
        both = np.concatenate([top, upper])
        top = both if both.size <= keep else np.partition(both, both.size - keep)[-keep:]
    resolvable = target * pairs >= 1.0 and top.size == keep
    needed = float(np.nextafter(np.float32(top.min()), np.float32(np.inf))) if resolvable \
        else None
    return PairRate(n, pairs, above, threshold, target, needed)


@dataclass(frozen=True)
class _Held:
    cohort: Cohort
    generation: int | None
    read_at: float
    read_s: float  # how long reading it took


class CohortCache:
    """The cohort of each model version, read from the store again when its change counter
    moved (a template stored or erased; not sooner than :data:`READ_SHARE` allows) or, for
    a store without one, after :data:`REREAD_AFTER_S`. Store errors are raised
    (``TemplateStoreError``): the caller fails closed, as for any template it cannot read."""

    def __init__(self, store: TemplateStore, clock: Callable[[], float] = time.monotonic,
                 measure_tail: bool = True) -> None:
        self._store = store
        self._clock = clock
        self._measure_tail = measure_tail  # for the threshold among the enrolled
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def get(self, model_version: str) -> Cohort:
        """The version's cohort as of this call's change counter or, while its templates
        keep changing, as of the latest read :data:`READ_SHARE` allowed."""
        generation = self._store.generation(model_version)
        with self._lock:  # one read at a time: parallel check-ins wait for it, not repeat it
            held = self._held.get(model_version)
            now = self._clock()
            if held is not None:
                age = now - held.read_at
                current = held.generation == generation and (
                    generation is not None or age < REREAD_AFTER_S)
                if current or age < held.read_s / READ_SHARE:
                    return held.cohort
            # The counter was read first: a template stored meanwhile moves it again, and
            # a later call reads the cohort again.
            students = self._store.students(model_version)
            cohort = Cohort.of(model_version,
                               self._store.get_many(students, model_version).values())
            if self._measure_tail:
                # Once a read (the first check-in after an enrollment pays it), not per
                # check-in, and under the lock: parallel check-ins wait for it.
                self._log_tail(held, cohort.tail, cohort)
            self._held[model_version] = _Held(cohort, generation, now, self._clock() - now)
            return cohort

    @staticmethod
    def _log_tail(held: _Held | None, tail: float | None, cohort: Cohort) -> None:
        before = None if held is None else held.cohort.tail
        if held is not None and (before is None) == (tail is None) and abs(
                (before or 0.0) - (tail or 0.0)) < TAIL_LOGGED_MOVE:
            return
        log.info("model version %s: %d students enrolled; %s", cohort.model_version,
                 len(cohort.students), "too few to measure their pair-score tail"
                 if tail is None else f"1% of the pairs of their first photos score above "
                 f"{tail:.4f} (the accept threshold is raised by how far that is above the "
                 "calibration people's)")
