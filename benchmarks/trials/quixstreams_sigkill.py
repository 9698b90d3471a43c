#!/usr/bin/env python3
"""SIGKILL trial for quixstreams exactly-once (issue: one way to talk to Kafka).

Not part of the product: an experiment kept so that it can be repeated. It needs its
own environment (``pip install quixstreams``, 3.28.1 was measured) and a broker:
  QUIXTRIAL_BROKER=127.0.0.1:9092 python benchmarks/trials/quixstreams_sigkill.py run \
      --rounds 5 --variants k1,k2,k1f,k1t --cleanup
Measured rows: results/quixstreams-sigkill.jsonl; conclusions in the README.

Orchestrator:  trial.py run [--rounds 5] [--variants k1,k2] [--n 200]
Worker (internal): trial.py worker IN OUT GROUP PROGRESS_FILE COMMIT_INTERVAL TXID_MODE

Per round and variant: fresh topics quixtrial-in-<round><variant> (4 partitions)
and quixtrial-out-<round><variant> (1 partition), N input records over 8 keys,
a worker (quixstreams Application, processing_guarantee="exactly-once", fresh
group, auto_offset_reset="earliest", 40 ms sleep per record, .to_topic(out)),
SIGKILL once 30-50 % of the input has been handled (k1) or twice (k2), a final
worker that runs until every sequence number is visible to a read_committed
reader, then a full read_committed count of the output topic.

Variants:
  k1     one kill, default commit_interval (5 s), random transactional.id (default)
  k2     two kills, otherwise as k1
  k1f    one kill, commit_interval=0.1 s (what a ~100 ms latency budget needs)
  k1t    one kill, commit_interval=0.1 s, stable transactional.id,
         session.timeout.ms=6000, transaction.timeout.ms=10000 (tuned)
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

BROKER = os.environ.get("QUIXTRIAL_BROKER", "127.0.0.1:9092")
HERE = os.path.dirname(os.path.abspath(__file__))
WORK_S = 0.040
PHASE_TIMEOUT_S = 240       # hard cap for one worker phase
FINAL_DRAIN_TIMEOUT_S = 120  # hard cap to wait for open txns to resolve before counting

VARIANTS = {
    "k1": dict(kills=1, commit_interval=5.0, tuned=False),
    "k2": dict(kills=2, commit_interval=5.0, tuned=False),
    "k1f": dict(kills=1, commit_interval=0.1, tuned=False),
    "k1t": dict(kills=1, commit_interval=0.1, tuned=True),
}


# --------------------------------------------------------------------- worker
def worker(in_name, out_name, group, progress_path, commit_interval, tuned):
    from quixstreams import Application

    prod_cfg, cons_cfg = {}, {}
    if tuned == "1":
        prod_cfg = {"transactional.id": group + "-txn", "transaction.timeout.ms": 10000}
        cons_cfg = {"session.timeout.ms": 6000}
    app = Application(
        broker_address=BROKER,
        consumer_group=group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=float(commit_interval),
        producer_extra_config=prod_cfg,
        consumer_extra_config=cons_cfg,
        state_dir=os.path.join(HERE, "state", group),
        use_changelog_topics=False,
        auto_create_topics=False,
        loglevel="INFO",
    )
    print("transactional.id =", app.config.producer_extra_config.get("transactional.id"),
          flush=True)
    in_t = app.topic(in_name, value_deserializer="json")
    out_t = app.topic(out_name, value_serializer="json")
    progress = open(progress_path, "a", buffering=1)
    pid = os.getpid()

    def handle(value):
        time.sleep(WORK_S)  # simulated model work
        progress.write(f"{value['seq']}\n")
        return {"seq": value["seq"], "worker": pid}

    sdf = app.dataframe(in_t)
    sdf = sdf.apply(handle)
    sdf.to_topic(out_t)
    app.run()


# --------------------------------------------------------------- orchestrator
def admin():
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": BROKER})


def wait_futures(fs, ignore=()):
    for f in fs.values():
        try:
            f.result(30)
        except Exception as e:  # noqa: BLE001
            if not any(s in str(e) for s in ignore):
                raise


def create_topics(a, names_parts):
    from confluent_kafka.admin import NewTopic
    wait_futures(a.create_topics([NewTopic(n, num_partitions=p, replication_factor=1)
                                  for n, p in names_parts]))
    deadline = time.time() + 30
    while time.time() < deadline:
        md = a.list_topics(timeout=10).topics
        if all(n in md and len(md[n].partitions) == p for n, p in names_parts):
            return
        time.sleep(0.5)
    raise RuntimeError("topics not visible")


def produce_inputs(in_name, n):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": BROKER, "enable.idempotence": True})
    for seq in range(n):
        p.produce(in_name, key=f"key-{seq % 8}", value=json.dumps({"seq": seq}))
    assert p.flush(30) == 0


class CommittedReader:
    """read_committed reader of the output topic, from the beginning."""

    def __init__(self, out_name, tag):
        from confluent_kafka import Consumer, TopicPartition
        self.c = Consumer({
            "bootstrap.servers": BROKER,
            "group.id": f"quixtrial-reader-{tag}-{time.time_ns()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        })
        md = self.c.list_topics(out_name, timeout=10).topics[out_name]
        self.tps = [TopicPartition(out_name, p, 0) for p in md.partitions]
        self.c.assign(self.tps)
        self.seqs = []  # in read order
        self.eof = set()

    def poll_some(self, budget_s=0.5):
        end = time.time() + budget_s
        while time.time() < end:
            m = self.c.poll(0.1)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    self.eof.add(m.partition())
                continue
            self.eof.discard(m.partition())
            self.seqs.append(json.loads(m.value())["seq"])

    def lso_equals_hw(self):
        """True when nothing is pending: position after EOF == high watermark."""
        from confluent_kafka import TopicPartition
        for tp in self.tps:
            lo, hi = self.c.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                  timeout=10)
            pos = self.c.position([TopicPartition(tp.topic, tp.partition)])[0].offset
            if tp.partition not in self.eof or pos < hi:
                return False
        return True

    def close(self):
        self.c.close()


def line_count(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def start_worker(in_name, out_name, group, progress, cfg, log):
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "worker", in_name, out_name, group,
         progress, str(cfg["commit_interval"]), "1" if cfg["tuned"] else "0"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_gracefully(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def run_one(rnd, vname, n, rng):
    cfg = VARIANTS[vname]
    tag = f"{rnd}{vname}"
    in_name, out_name = f"quixtrial-in-{tag}", f"quixtrial-out-{tag}"
    group = f"quixtrial-g-{tag}-{int(time.time())}"
    a = admin()
    create_topics(a, [(in_name, 4), (out_name, 1)])
    produce_inputs(in_name, n)
    os.makedirs(os.path.join(HERE, "logs"), exist_ok=True)
    res = dict(round=rnd, variant=vname, inputs=n, kills=[])
    reader = CommittedReader(out_name, tag)
    try:
        # kill phases
        for k in range(cfg["kills"]):
            progress = os.path.join(HERE, "logs", f"{tag}-w{k}.progress")
            log = open(os.path.join(HERE, "logs", f"{tag}-w{k}.log"), "w")
            # kill after this worker handled 30-50 % of N (first kill) or another
            # 15-25 % (second kill), counted from this worker's own progress
            share = rng.uniform(0.30, 0.50) if k == 0 else rng.uniform(0.15, 0.25)
            target = int(n * share)
            t0 = time.time()
            p = start_worker(in_name, out_name, group, progress, cfg, log)
            while line_count(progress) < target and time.time() - t0 < PHASE_TIMEOUT_S \
                    and p.poll() is None:
                reader.poll_some(0.3)
            handled = line_count(progress)
            os.kill(p.pid, signal.SIGKILL)
            p.wait(10)
            reader.poll_some(0.5)
            res["kills"].append(dict(handled_by_killed=handled,
                                     committed_at_kill=len(set(reader.seqs)),
                                     worker_s=round(time.time() - t0, 1)))
            log.close()
        # final worker
        progress = os.path.join(HERE, "logs", f"{tag}-final.progress")
        log = open(os.path.join(HERE, "logs", f"{tag}-final.log"), "w")
        t0 = time.time()
        p = start_worker(in_name, out_name, group, progress, cfg, log)
        first_proc = None
        while len(set(reader.seqs)) < n and time.time() - t0 < PHASE_TIMEOUT_S:
            reader.poll_some(0.3)
            if first_proc is None and line_count(progress) > 0:
                first_proc = time.time() - t0
        done_s = time.time() - t0
        res["final_first_record_s"] = round(first_proc, 1) if first_proc else None
        res["final_all_visible_s"] = round(done_s, 1) if len(set(reader.seqs)) >= n else None
        res["final_handled"] = line_count(progress)
        stop_gracefully(p)
        log.close()
    finally:
        reader.close()
    # definitive count: fresh read_committed read from the beginning, after all
    # transactions have resolved (LSO == high watermark)
    t0 = time.time()
    while True:
        r2 = CommittedReader(out_name, tag + "-final")
        r2.poll_some(3)
        settled = r2.lso_equals_hw()
        while not settled and time.time() - t0 < FINAL_DRAIN_TIMEOUT_S:
            r2.poll_some(2)
            settled = r2.lso_equals_hw()
        break
    seqs = r2.seqs
    r2.close()
    seen, dups = set(), 0
    for s in seqs:
        if s in seen:
            dups += 1
        seen.add(s)
    res.update(outputs_committed=len(seqs), distinct=len(seen),
               missing=len(set(range(n)) - seen), duplicates=dups,
               dup_seqs=sorted({s for s in seqs if seqs.count(s) > 1})[:20],
               settled=settled)
    return res


def cleanup(prefix="quixtrial-"):
    a = admin()
    names = [t for t in a.list_topics(timeout=10).topics if t.startswith(prefix)]
    if names:
        wait_futures(a.delete_topics(names), ignore=("UNKNOWN_TOPIC",))
    try:
        groups = [g.group_id for g in a.list_consumer_groups().result(30).valid
                  if g.group_id.startswith(prefix)]
        if groups:
            wait_futures(a.delete_consumer_groups(groups))
    except Exception as e:  # noqa: BLE001
        print("group cleanup:", e)
    return names


def main_run(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--variants", default="k1,k2")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cleanup", action="store_true", help="delete quixtrial-* at the end")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    results_path = os.path.join(HERE, "results.jsonl")
    overall_deadline = time.time() + 60 * 60
    try:
        for rnd in range(1, args.rounds + 1):
            for v in args.variants.split(","):
                if time.time() > overall_deadline:
                    print("overall deadline hit, stopping", flush=True)
                    return
                res = run_one(rnd, v, args.n, rng)
                print(json.dumps(res), flush=True)
                with open(results_path, "a") as f:
                    f.write(json.dumps(res) + "\n")
    finally:
        if args.cleanup:
            print("deleted:", cleanup(), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker(*sys.argv[2:8])
    elif sys.argv[1] == "run":
        main_run(sys.argv[2:])
    elif sys.argv[1] == "cleanup":
        print("deleted:", cleanup())
