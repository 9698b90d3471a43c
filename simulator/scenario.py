"""Scenario files (YAML) and the deterministic plan of check-ins they describe.

A scenario names a cohort size, a number of check-ins, the gates, an arrival
process, the burst each gate sends with its primary frame, and a weighted mix of
probe kinds, each optionally with transforms and a burst instrument (a live person
or a presentation attack, see :mod:`examgate.augment.bursts`).
:func:`plan_checkins` turns it, with the people the driver picked, into a list
of :class:`PlannedCheckIn`: who claims which id with which image, altered how,
sent when and where, and what the right answer is. The same scenario, people
and seed always give the same plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from examgate.augment import ATTACK_FAMILY, Step, burst_names, get_burst, get_transform
from simulator.arrivals import ArrivalProcess, arrival_schedule
from simulator.cohort import IdentityLeakError, Person, as_person, check_disjoint

SCENARIO_DIR = Path(__file__).parent / "scenarios"

NearestFn = Callable[[str, Sequence[str]], str]
"""``nearest(image_path, candidate_student_ids) -> student id`` whose template is closest."""


class ProbeKind(StrEnum):
    """Who stands at the gate and what they present."""

    GENUINE = "genuine"                        # the claimed student, another photo
    IMPOSTOR_RANDOM = "impostor_random"        # someone else, claiming a random student
    IMPOSTOR_LOOKALIKE = "impostor_lookalike"  # someone else, claiming their nearest student
    UNENROLLED = "unenrolled"                  # a visitor whose own id is not enrolled
    REPLAY = "replay"                          # the enrollment photo itself, unchanged
    PRINTED_PHOTO = "printed_photo"            # a print of the enrollment photo, re-captured
    NO_FACE = "no_face"                        # an empty scene
    PRESENTATION_ATTACK = "presentation_attack"  # the enrollment photo on a burst instrument


ATTACK_KINDS = {ProbeKind.REPLAY: "replay", ProbeKind.PRINTED_PHOTO: "printed_photo",
                ProbeKind.PRESENTATION_ATTACK: "presentation_attack"}
# Kinds whose image is produced by a transform that must run first.
_IMPLIED_STEP = {ProbeKind.PRINTED_PHOTO: "printed_photo", ProbeKind.NO_FACE: "empty_scene"}
BONA_FIDE = "bona_fide"
# The burst instrument of each kind when the mix names none; None: the same image repeated.
DEFAULT_INSTRUMENT: dict[ProbeKind, str | None] = {
    ProbeKind.GENUINE: BONA_FIDE, ProbeKind.IMPOSTOR_RANDOM: BONA_FIDE,
    ProbeKind.IMPOSTOR_LOOKALIKE: BONA_FIDE, ProbeKind.UNENROLLED: BONA_FIDE,
    ProbeKind.PRINTED_PHOTO: "printed_photo_handheld", ProbeKind.REPLAY: None,
    ProbeKind.NO_FACE: None, ProbeKind.PRESENTATION_ATTACK: None,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TransformRef(_Frozen):
    """A transform by name with its parameters (checked against the transform's own model)."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_with_valid_params(self) -> TransformRef:
        try:
            spec = get_transform(self.name)
        except KeyError as exc:  # pydantic reports ValueErrors, not KeyErrors
            raise ValueError(str(exc)) from None
        spec.validate(self.params)
        return self


class ProbeMix(_Frozen):
    """One condition in the mix: a probe kind, its weight, transforms and burst instrument.

    Transforms alter the source photo; the instrument then renders the burst from it.
    Live kinds (genuine, impostors, visitors) are ``bona_fide``; ``printed_photo``
    takes a print instrument; ``presentation_attack`` needs an attack instrument;
    ``replay`` and ``no_face`` take none (their one image is repeated).
    """

    kind: ProbeKind
    weight: float = Field(gt=0.0, description="relative share of the check-ins")
    label: str | None = Field(default=None,
                              description="condition label in reports; derived if unset")
    transforms: tuple[TransformRef, ...] = ()
    instrument: str | None = Field(default=None, description=(
        "burst instrument (examgate.augment.burst_names()); the kind's default if unset"))
    instrument_params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("transforms", mode="before")
    @classmethod
    def _names_as_refs(cls, value: Any) -> Any:
        # Accept the short form `transforms: [dim, jpeg]` as well as {name, params} maps.
        if isinstance(value, list | tuple):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _replay_is_unchanged(self) -> ProbeMix:
        if self.kind is ProbeKind.REPLAY and self.transforms:
            raise ValueError("a replay is the enrollment photo unchanged; use printed_photo "
                             "or a genuine probe with transforms instead")
        return self

    @model_validator(mode="after")
    def _instrument_fits_kind(self) -> ProbeMix:
        name = self.burst_instrument
        if self.instrument is not None and self.instrument not in burst_names():
            raise ValueError(f"unknown burst instrument {self.instrument!r}; known: "
                             f"{', '.join(burst_names())}")
        family = ATTACK_FAMILY.get(name or "")
        if self.kind is ProbeKind.PRESENTATION_ATTACK and (name is None or name == BONA_FIDE):
            raise ValueError("a presentation_attack needs an attack `instrument`: "
                             f"{', '.join(n for n in burst_names() if n != BONA_FIDE)}")
        if self.kind is ProbeKind.PRINTED_PHOTO and family != "print":
            raise ValueError(f"printed_photo takes a print instrument "
                             f"({', '.join(burst_names('print'))}), not {name!r}")
        if DEFAULT_INSTRUMENT[self.kind] == BONA_FIDE and name != BONA_FIDE:
            raise ValueError(f"a {self.kind.value} probe is a live person (bona_fide), not "
                             f"{name!r}; use presentation_attack")
        if self.kind in (ProbeKind.REPLAY, ProbeKind.NO_FACE) and self.instrument is not None:
            raise ValueError(f"{self.kind.value} takes no instrument (its image is repeated "
                             "in every frame); use presentation_attack")
        if self.instrument_params and name is None:
            raise ValueError(f"instrument_params without an instrument ({self.kind.value})")
        if name is not None:
            get_burst(name).validate(self.instrument_params)
        return self

    @property
    def burst_instrument(self) -> str | None:
        """The instrument that renders this condition's bursts (None: the image repeated)."""
        return self.instrument or DEFAULT_INSTRUMENT[self.kind]

    @property
    def condition(self) -> str:
        """The label, or ``kind`` / ``kind:t1+t2`` from the transforms, then ``@instrument``
        if not the kind's default (``presentation_attack:<instrument>[+t1...]``)."""
        if self.label:
            return self.label
        names = [t.name for t in self.transforms if t.name != _IMPLIED_STEP.get(self.kind)]
        if self.kind is ProbeKind.PRESENTATION_ATTACK:
            return f"{self.kind.value}:{'+'.join([str(self.instrument), *names])}"
        out = f"{self.kind.value}:{'+'.join(names)}" if names else self.kind.value
        if self.instrument and self.instrument != DEFAULT_INSTRUMENT[self.kind]:
            out += f"@{self.instrument}"
        return out

    def steps(self, burst: bool = False) -> list[tuple[str, dict[str, Any]]]:
        """(name, full params) per transform, with the kind's own step first if implied;
        with a ``burst`` a print is rendered by the instrument, so its step is not implied."""
        out = [(t.name, get_transform(t.name).validate(t.params)) for t in self.transforms]
        implied = _IMPLIED_STEP.get(self.kind)
        if burst and self.kind is ProbeKind.PRINTED_PHOTO:
            implied = None
        if implied and implied not in {name for name, _ in out}:
            out.insert(0, (implied, get_transform(implied).validate({})))
        return out


class Scenario(_Frozen):
    """A scenario file: who, how many, how fast, and which conditions in what proportions."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(ge=0)
    exam_id: str | None = Field(default=None, description="defaults to the scenario name")
    cohort_size: int = Field(ge=1, description="enrolled students")
    checkins: int = Field(ge=1, description="check-ins to send")
    gates: int = Field(ge=1)
    burst_frames: int = Field(default=4, ge=0, le=8, description=(
        "extra frames each gate sends with the primary one; 0: a single frame"))
    arrival: ArrivalProcess
    probes: tuple[ProbeMix, ...] = Field(min_length=1)
    second_look: bool = Field(default=True, description=(
        "gates prompt a face refused only for lacking a head's motion to turn, and send one "
        "new burst (as the API's kiosks do); the report adds rates per transaction"))

    @model_validator(mode="after")
    def _unique_conditions(self) -> Scenario:
        labels = [p.condition for p in self.probes]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"condition labels must be unique, repeated: {dupes}; set `label`")
        return self

    def counts(self) -> dict[str, int]:
        """Check-ins per condition label (see :func:`apportion`)."""
        shares = apportion([p.weight for p in self.probes], self.checkins)
        return {p.condition: c for p, c in zip(self.probes, shares, strict=True)}


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario YAML file; a bare name means a bundled scenario."""
    p = Path(path)
    if not p.suffix and not p.exists():
        p = SCENARIO_DIR / f"{p.name}.yaml"
    with p.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return Scenario.model_validate(data)


def bundled_scenarios() -> list[Path]:
    """The scenario files shipped in ``simulator/scenarios``."""
    return sorted(SCENARIO_DIR.glob("*.yaml"))


def apportion(weights: Sequence[float], n: int) -> list[int]:
    """Split ``n`` by ``weights`` exactly (largest remainders), at least 1 each when n allows.

    Counts are exact rather than sampled so that a 5% condition is 5% in every run.
    """
    w = np.asarray(weights, dtype=np.float64)
    quota = w / w.sum() * n
    counts = np.floor(quota + 1e-9).astype(np.int64)  # 3.5% of 2000 is 70, not 69.999...
    for i in np.argsort(-(quota - counts), kind="stable")[: n - int(counts.sum())]:
        counts[i] += 1
    if n >= len(w):  # rare conditions still get exercised in small runs
        for i in np.flatnonzero(counts == 0):
            counts[int(np.argmax(counts))] -= 1
            counts[i] = 1
    return [int(c) for c in counts]


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedCheckIn:
    """One check-in to send, with its ground truth.

    ``is_genuine`` means a live enrolled student who is the claimed student:
    replays and printed photos of the student are not genuine (accepting them is
    a false accept), nor is an unenrolled visitor claiming their own id.

    ``instrument`` renders ``1 + burst_frames`` frames from the transformed source
    (None: that image repeated); ``attack`` names the attack type for reports (the
    instrument for prints and presentation attacks, ``replay`` for a replay).
    """

    index: int
    checkin_id: str
    exam_id: str
    gate_id: str
    send_offset_s: float
    claimed_student_id: str
    claimed_enrolled: bool
    source_image: str
    steps: tuple[Step, ...]
    seed: int
    probe_kind: str
    condition: str
    is_genuine: bool
    attack: str | None
    actual_person: str | None
    claimed_gender: str | None
    actual_gender: str | None
    instrument: str | None = None
    burst_frames: int = 0
    instrument_params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def burst_rng(self) -> np.random.Generator:
        """The generator the burst is rendered with, derived from ``seed`` (not the steps')."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(1,)))

    @property
    def gender(self) -> str | None:
        """The slice for reports: the claimed student's gender, else the person shown."""
        return self.claimed_gender if self.claimed_enrolled else self.actual_gender

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready dict (steps as name/params/seed maps)."""
        out = dataclasses.asdict(self)
        out["steps"] = [{"name": s.name, "params": dict(s.params), "seed": s.seed}
                        for s in self.steps]
        out["gender"] = self.gender
        return out


def _cycle(items: Sequence[Any], rng: np.random.Generator) -> Iterator[Any]:
    """Endless shuffled passes over ``items``, so each is used about equally often."""
    while True:
        for i in rng.permutation(len(items)):
            yield items[int(i)]


def plan_checkins(scenario: Scenario, cohort: Sequence[Person | tuple[Any, ...]],
                  others: Sequence[Person | tuple[Any, ...]],
                  rng: np.random.Generator | None = None, *,
                  nearest: NearestFn | None = None) -> list[PlannedCheckIn]:
    """The scenario's check-ins in send order, deterministic for the same inputs and seed.

    ``cohort`` are the enrolled students (first image enrolled, the rest genuine
    probes); ``others`` are people not enrolled. ``rng`` defaults to
    ``np.random.default_rng(scenario.seed)``. ``nearest`` is needed only for
    ``impostor_lookalike`` probes.
    """
    rng = np.random.default_rng(scenario.seed) if rng is None else rng
    students = [as_person(p) for p in cohort]
    visitors = [as_person(p) for p in others]
    _check_inputs(scenario, students, visitors, nearest)
    exam_id = scenario.exam_id or scenario.name
    student_ids = [s.name for s in students]
    counts = apportion([p.weight for p in scenario.probes], scenario.checkins)
    mix_index = np.repeat(np.arange(len(scenario.probes)), counts)
    mix_index = mix_index[rng.permutation(len(mix_index))]
    offsets, gates = arrival_schedule(scenario.arrival, scenario.checkins, scenario.gates, rng)
    next_student, next_other = _cycle(students, rng), _cycle(visitors or [None], rng)
    photo_turn: dict[str, int] = {}
    plan = []
    for i, (m, offset, gate) in enumerate(zip(mix_index, offsets, gates, strict=True)):
        probe = scenario.probes[int(m)]
        kind = probe.kind
        if kind in (ProbeKind.GENUINE, ProbeKind.REPLAY, ProbeKind.PRINTED_PHOTO,
                    ProbeKind.PRESENTATION_ATTACK):
            claimed = shown = next(next_student)
            if kind is ProbeKind.GENUINE:
                turn = photo_turn.get(claimed.name, int(rng.integers(len(claimed.images) - 1)))
                photo_turn[claimed.name] = turn + 1
                source = claimed.images[1 + turn % (len(claimed.images) - 1)]
            else:
                source = claimed.images[0]
        elif kind is ProbeKind.NO_FACE:
            claimed, shown = next(next_student), None
            source = (next(next_other) or claimed).images[0]
        else:
            shown = next(next_other)
            source = shown.images[0]
            if kind is ProbeKind.UNENROLLED:
                claimed = shown
            elif kind is ProbeKind.IMPOSTOR_RANDOM:
                claimed = next(next_student)
            else:
                assert nearest is not None  # checked in _check_inputs
                claimed_id = nearest(source, student_ids)
                if claimed_id not in student_ids:
                    raise ValueError(f"nearest() returned {claimed_id!r}, not a cohort student")
                claimed = students[student_ids.index(claimed_id)]
        item_seed = int(rng.integers(0, 2**63 - 1))
        burst = scenario.burst_frames > 0
        steps = probe.steps(burst)
        # Single frame: as before bursts, except that an attack instrument is still rendered.
        instrument = probe.burst_instrument if burst or kind is ProbeKind.PRESENTATION_ATTACK \
            else None
        attack = ATTACK_KINDS.get(kind)
        if kind in (ProbeKind.PRINTED_PHOTO, ProbeKind.PRESENTATION_ATTACK) and instrument:
            attack = instrument
        seeds = np.random.SeedSequence(item_seed).generate_state(max(len(steps), 1))
        enrolled = kind is not ProbeKind.UNENROLLED
        plan.append(PlannedCheckIn(
            index=i, checkin_id=f"{scenario.name}-{i:06d}", exam_id=exam_id,
            gate_id=f"gate-{int(gate) + 1:02d}", send_offset_s=round(float(offset), 6),
            claimed_student_id=claimed.name, claimed_enrolled=enrolled, source_image=source,
            steps=tuple(Step(n, p, int(s)) for (n, p), s in zip(steps, seeds, strict=False)),
            seed=item_seed, probe_kind=kind.value, condition=probe.condition,
            is_genuine=kind is ProbeKind.GENUINE, attack=attack,
            actual_person=shown.name if shown else None,
            claimed_gender=claimed.gender, actual_gender=shown.gender if shown else None,
            instrument=instrument, burst_frames=scenario.burst_frames,
            instrument_params=get_burst(instrument).validate(probe.instrument_params)
            if instrument else {},
        ))
    return plan


def _check_inputs(scenario: Scenario, students: list[Person], visitors: list[Person],
                  nearest: NearestFn | None) -> None:
    kinds = {p.kind for p in scenario.probes}
    if len(students) != scenario.cohort_size:
        raise ValueError(f"scenario {scenario.name!r} wants {scenario.cohort_size} students, "
                         f"got {len(students)}")
    check_disjoint(students, visitors)
    if len({s.name for s in students}) != len(students):
        raise IdentityLeakError("the cohort names a student twice")
    if ProbeKind.GENUINE in kinds:
        short = [s.name for s in students if len(s.images) < 2]
        if short:
            raise ValueError(f"genuine probes need a second photo; {len(short)} students have "
                             f"one (e.g. {short[0]})")
    if any(not s.images for s in students):
        raise ValueError("every student needs an enrollment image")
    needs_others = {ProbeKind.IMPOSTOR_RANDOM, ProbeKind.IMPOSTOR_LOOKALIKE,
                    ProbeKind.UNENROLLED} & kinds
    if needs_others and not visitors:
        raise ValueError(f"{sorted(k.value for k in needs_others)} probes need `others` "
                         f"(people who are not enrolled)")
    if ProbeKind.IMPOSTOR_LOOKALIKE in kinds and nearest is None:
        raise ValueError("impostor_lookalike probes need nearest=(image_path, student_ids) -> "
                         "student id, from the enrolled templates")
