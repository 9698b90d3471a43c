"""Templates in the real Redis: many read at once, those stored before the Avro record, and
the change counter a worker's copy of the cohort follows."""

from __future__ import annotations

import dataclasses
import io
import uuid

import numpy as np
import pytest

from examgate.adapters.factory import sealer, template_store
from examgate.adapters.templates import RedisTemplateStore
from examgate.core import lookalikes
from examgate.core.cohort import CohortCache
from examgate.core.ports import Template, TemplateStoreError
from examgate.core.settings import Settings

pytestmark = pytest.mark.integration


def _template(student: str, version: str, rng: np.random.Generator) -> Template:
    emb = rng.normal(size=(2, 128)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return Template.from_embeddings(student, version, emb,
                                    rng.integers(0, 255, (2, 32, 32)).astype(np.uint8))


def test_get_many_reads_what_get_reads_across_chunks(stack: Settings) -> None:
    store = template_store(stack)
    store.MGET_CHUNK = 7  # several MGETs for the 20 students below
    version = f"test-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(0)
    students = [f"s{i:02d}" for i in range(20)]
    try:
        for s in students:
            store.put(dataclasses.replace(_template(s, version, rng), lookalikes=(("x", 0.4),)))
        got = store.get_many([*reversed(students), "nobody", students[0]], version)
        assert sorted(got) == students
        for s in students:
            one = store.get(s, version)
            assert one is not None and got[s].lookalikes == one.lookalikes == (("x", 0.4),)
            np.testing.assert_array_equal(got[s].image_embeddings, one.image_embeddings)
        # What the registrar's report and the console's admin page list, read the same way.
        assert lookalikes.pairs_among(store.get_many(store.students(version), version).values()
                                      ) == [(s, "x", pytest.approx(0.4)) for s in students]
    finally:
        for s in students:
            store.delete_student(s)


def test_a_template_stored_as_npz_before_is_still_read(stack: Settings) -> None:
    """Redis keeps what earlier releases wrote: their npz templates read as before."""
    store = template_store(stack)
    version = f"test-{uuid.uuid4().hex[:8]}"
    t = _template("old-student", version, np.random.default_rng(1))
    buf = io.BytesIO()
    np.savez(buf, embedding=t.embedding, image_embeddings=t.image_embeddings,
             thumbnails=t.thumbnails, meta=np.array([t.student_id, version]))
    key = f"{RedisTemplateStore.PREFIX}:{version}:old-student"
    store.put(t)  # the indexes, as that release wrote them too
    store._r.set(key, sealer(stack).seal(buf.getvalue(), key))
    try:
        for got in (store.get("old-student", version),
                    store.get_many(["old-student"], version)["old-student"]):
            assert got is not None and got.lookalikes == ()
            np.testing.assert_array_equal(got.embedding, t.embedding)
        store._r.set(key, sealer(stack).seal(b"neither format", key))
        with pytest.raises(TemplateStoreError, match="unreadable"):
            store.get_many(["old-student"], version)
    finally:
        store.delete_student("old-student")


def test_the_change_counter_moves_with_every_store_and_erasure(stack: Settings) -> None:
    """What a verify worker's copy of the cohort follows (examgate.core.cohort)."""
    store = template_store(stack)
    version, other = (f"test-{uuid.uuid4().hex[:8]}" for _ in range(2))
    rng = np.random.default_rng(2)
    cache = CohortCache(store, clock=lambda: 0.0)  # no time passes: the counter alone
    try:
        assert store.generation(version) == 0 and cache.get(version).students == ()
        store.put(_template("anna", version, rng))
        after_anna = store.generation(version)
        assert after_anna > 0 and store.generation(other) == 0
        assert cache.get(version).students == ("anna",)
        store.put(_template("bea", version, rng))
        store.put(_template("bea", other, rng))
        assert store.generation(version) > after_anna
        assert cache.get(version).students == ("anna", "bea")
        before = store.generation(other)
        store.delete_student("bea")  # erased from both versions
        assert store.generation(other) > before
        assert cache.get(version).students == ("anna",) and cache.get(other).students == ()
    finally:
        for s in ("anna", "bea"):
            store.delete_student(s)
        store._r.delete(store._changes(version), store._changes(other))


def test_the_registrars_report_checks_the_threshold_among_the_enrolled(
        stack: Settings, tmp_path) -> None:
    """`examgate enroll --report` over the real registry and Redis: two students enrolled
    with one face make a pair above any threshold, and every pair is counted once."""
    import json

    from examgate.models.bootstrap import bootstrap
    from producers.cli_enroll import lookalike_report

    version = bootstrap(stack)
    store = template_store(stack)
    t = _template("twin-a", version, np.random.default_rng(3))
    twins = [t, dataclasses.replace(t, student_id="twin-b")]
    out = tmp_path / "report.json"
    try:
        for twin in twins:
            store.put(twin)
        assert lookalike_report(stack, out) == 0
        report = json.loads(out.read_text())
        check, n = report["threshold_check"], len(store.students(version))
        assert report["model_version"] == version
        assert (check["students"], check["pairs"]) == (n, n * (n - 1) // 2)
        assert check["at_or_above"] >= 1 and check["threshold"] >= 0.3
        # Counted at the threshold served among them: never below the calibrated one.
        accept = report["accept_threshold"]
        assert check["threshold"] == accept["served"] >= accept["calibrated"]
    finally:
        for twin in twins:
            store.delete_student(twin.student_id)


def test_two_registries_sharing_redis_keep_their_cohorts_apart(stack: Settings) -> None:
    """Versions are numbered per registry: with its own template prefix a second registry's
    version "1" (a benchmark's, a staging run's) is not the first one's cohort."""
    run = uuid.uuid4().hex[:8]
    ours, theirs = (template_store(stack.model_copy(update={"redis": stack.redis.model_copy(
        update={"template_prefix": f"examgate:tpl-it{run}{side}"})})) for side in ("a", "b"))
    rng = np.random.default_rng(4)
    try:
        ours.put(_template("anna", "1", rng))
        theirs.put(_template("bea", "1", rng))
        assert ours.students("1") == ["anna"] and theirs.students("1") == ["bea"]
        assert CohortCache(ours).get("1").students == ("anna",)
        assert ours.generation("1") == theirs.generation("1") == 1
    finally:
        ours.delete_student("anna")
        theirs.delete_student("bea")
        for store in (ours, theirs):
            store._r.delete(store._changes("1"))
