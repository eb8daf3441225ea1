"""drain: cross-host traffic in a shuffle, then host 2 drained for maintenance
(make hosts-up first).

First a dataframe shuffle across the hosts, with the bytes each host sent and
received over its link (its interface counters) beside the data's size: what
a shuffle costs once workers sit on different machines. Then the admin's
maintenance path: the workers on host 2 are retired by Dask first (their
results move to the workers that stay), and only then is the host drained
(`docker node update --availability drain`), so Swarm starts their tasks on
another host. Nothing is lost or recomputed. Afterwards the host is made
active again and its workers moved back, so the cluster ends as it began.
"""

from __future__ import annotations

import time

import dask
from distributed import wait

from dasklab import Result, named_workers, phase, removal_event, wait_until
from dasklab.backends.base import retire_by_name

HOST = "dasklab-h2"


def _held_on(client, names: set[str], keys: set[str]) -> int:
    by_name = {str(w["name"]): a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
    has = client.has_what()
    return sum(1 for n in names for k in has.get(by_name.get(n), ()) if k in keys)


def run(lab, host: str = HOST, days: int = 6) -> Result:
    r = Result("drain")
    c, res = lab.client, lab.resources
    placed = res.placement()
    victims = res.workers_on(host)
    r.check(bool(victims), f"no worker runs on {host}: {placed}")
    if not victims:
        return r

    phase(f"a shuffle of {days} days of timeseries across the hosts; counting link bytes")
    df = dask.datasets.timeseries(start="2000-01-01", end=f"2000-01-{1 + days:02d}", freq="1s",
                                  partition_freq="1d", seed=7)
    links_before = res.link_bytes()
    start = time.monotonic()
    shuffled = c.persist(df.shuffle(on="id"))
    wait(shuffled, timeout=300)
    shuffle_s = time.monotonic() - start
    links_after = res.link_bytes()
    data_bytes = int(c.compute(shuffled.memory_usage(deep=True).sum()).result(timeout=120))
    x_before = float(c.compute(shuffled.x.sum()).result(timeout=120))
    crossed = {h: (links_after[h][0] - links_before[h][0], links_after[h][1] - links_before[h][1])
               for h in links_after}

    keys = {k for k in c.who_has(shuffled)}
    on_host = _held_on(c, set(victims), keys)
    addresses = {n: w["address"] for n, w in lab.workers_by_name().items()}
    phase(f"retiring {', '.join(victims)} first: their {on_host} partitions move to the others")
    retire_at = time.time()
    start = time.monotonic()
    kept = c.sync(retire_by_name, c.scheduler.retire_workers, victims, callback_timeout=180)
    retire_s = time.monotonic() - start
    survivors = set(lab.workers_by_name()) - set(victims)
    held_by_survivors = _held_on(c, survivors, keys)
    phase(f"draining {host}: Swarm starts its tasks on another host")
    start = time.monotonic()
    try:
        res.drain(host)
        wait_until(lambda: not any(h == host for n, h in res.placement().items()
                                   if n.startswith("worker-")), 120,
                   f"no worker task left on {host}", interval=0.5, state=res.placement)
        lab.wait_for_workers(set(named_workers()), timeout=180)
        drain_s = time.monotonic() - start
        moved_to = {n: res.placement().get(n) for n in victims}
        x_after = float(c.compute(shuffled.x.sum()).result(timeout=120))
        lost = sum(len((removal_event(c, addresses[n], retire_at - 1) or (0, {}))[1]
                       .get("lost-computed-tasks") or []) for n in victims)
    finally:
        phase(f"{host} active again; its workers move back to it")
        res.drain(host, active=True)
        res.respread(victims)
        lab.wait_for_workers(set(named_workers()), timeout=180)
    del shuffled

    sent = {h: round(v[0] / 2**20, 1) for h, v in crossed.items()}
    received = {h: round(v[1] / 2**20, 1) for h, v in crossed.items()}
    r.tables["link traffic during the shuffle (MiB)"] = [
        {"host": h, "sent": sent[h], "received": received[h],
         "workers": ", ".join(sorted(n for n, p in placed.items() if p == h
                                     and n.startswith("worker-")))} for h in sorted(crossed)]
    r.measurements.update({
        "host": host, "workers_drained": victims,
        "shuffle_s": round(shuffle_s, 1), "data_mib": round(data_bytes / 2**20, 1),
        "mib_over_links": round(sum(v[0] for v in crossed.values()) / 2**20, 1),
        "partitions": len(keys), "partitions_on_host_before": on_host,
        "partitions_held_by_the_others_after_retire": held_by_survivors,
        "retire_s": round(retire_s, 2),
        "not_retired": kept, "drain_to_workers_back_s": round(drain_s, 1),
        "replacements_ran_on": moved_to, "results_lost": lost,
        "sum_before": round(x_before, 6), "sum_after": round(x_after, 6),
    })
    r.check(sum(v[0] for v in crossed.values()) > 0.2 * data_bytes,
            f"a shuffle across hosts should move data over the links: {sent} MiB sent, "
            f"{data_bytes / 2**20:.1f} MiB of data")
    r.check(not kept, f"{kept} could not be retired")
    r.check(held_by_survivors == len(keys),
            f"after retiring, the others hold {held_by_survivors} of {len(keys)} partitions")
    r.check(lost == 0, f"{lost} results were lost in the drain; retiring first should keep all")
    r.check(abs(x_after - x_before) < 1e-6 * max(1.0, abs(x_before)),
            f"the data changed across the drain: {x_before} -> {x_after}")
    r.check(all(h and h != host for h in moved_to.values()),
            f"the drained workers should run on another host: {moved_to}")
    r.notes += [
        f"The shuffle moved {sum(v[0] for v in crossed.values()) / 2**20:.0f} MiB over the hosts' "
        f"links for {data_bytes / 2**20:.0f} MiB of data: every partition's rows go to every "
        "other worker, and on one machine that costs nothing, across machines it is network.",
        f"Retire first, then drain: Dask copied the {on_host} partitions held on {host} to the "
        f"workers that stay ({retire_s:.2f} s), so draining lost nothing; draining alone would "
        "have killed the workers and their results would be recomputed.",
        f"From the drain to every worker registered again: {drain_s:.1f} s (the replacements "
        "start empty, on another host).",
    ]
    return r
