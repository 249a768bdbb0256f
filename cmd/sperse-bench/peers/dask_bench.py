"""Dask's side of sperse-bench (issue #9): the workloads of cmd/sperse-bench
on a LocalCluster of 2 worker processes with 1 thread each, on loopback.

Run by sperse-bench with Debian's python3 (python3-distributed,
python3-numpy); it prints one JSON object on standard output, each measure
key with its values (one per repetition: seconds, or tasks per second for
"2.rate"), and its progress on standard error.

    python3 dask_bench.py --reps 5 --only 1,2,3,5,6 --calls 200
"""

import argparse
import json
import statistics
import sys
import time


def inc(x):
    return x + 1


def sum_python(a, b):
    return sum(range(a, b))


def sum_numpy(a, b):
    import numpy as np

    return int(np.arange(a, b, dtype=np.int64).sum())


def small_f(a, b):
    return [x * 2 + 1 for x in range(a, b)]


def small_f_numpy(a, b):
    import numpy as np

    return np.arange(a, b, dtype=np.int64) * 2 + 1


def chunks(n, k):
    """The bounds of k chunks of range(n), as equal as can be."""
    return [(n * i // k, n * (i + 1) // k) for i in range(k)]


def log(*args):
    print("dask:", *args, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default="1,2,3,5,6")
    ap.add_argument("--calls", type=int, default=200, help="round trips per repetition of workload 1")
    ap.add_argument("--cells", type=int, default=20000, help="tasks of workload 2")
    ap.add_argument("--sum-n", type=int, default=10**8)
    ap.add_argument("--map-n", type=int, default=100000)
    args = ap.parse_args()
    only = {int(w) for w in args.only.split(",") if w}

    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )
    client = Client(cluster)
    out = {}

    def add(key, v):
        out.setdefault(key, []).append(v)

    try:
        client.submit(inc, 0, pure=False).result()  # warm up
        bounds = chunks(args.sum_n, 2)
        # Each workload's repetitions run back to back, as sperse's do.
        for w in sorted(only):
            for rep in range(args.reps):
                if w == 1:
                    lat = []
                    for i in range(args.calls + args.calls // 10):
                        t = time.perf_counter()
                        r = client.submit(inc, i, pure=False).result()
                        d = time.perf_counter() - t
                        assert r == i + 1
                        if i >= args.calls // 10:
                            lat.append(d)
                    lat.sort()
                    add("1.p50", lat[(len(lat) * 50 + 99) // 100 - 1])
                    add("1.p99", lat[(len(lat) * 99 + 99) // 100 - 1])
                if w == 2:
                    t = time.perf_counter()
                    futs = client.map(inc, range(rep, rep + args.cells), pure=False)
                    res = client.gather(futs)
                    d = time.perf_counter() - t
                    assert res[-1] == rep + args.cells
                    del futs
                    add("2.rate", args.cells / d)
                if w == 3:
                    ds = []
                    for k in range(5):
                        t = time.perf_counter()
                        f = client.submit(inc, k, pure=False)
                        for _ in range(99):
                            f = client.submit(inc, f, pure=False)
                        r = f.result()
                        ds.append(time.perf_counter() - t)
                        assert r == k + 100
                        del f
                    add("3.chain", statistics.mean(ds))
                if w == 5:
                    want = args.sum_n * (args.sum_n - 1) // 2
                    for key, fn in (("5.python", sum_python), ("5.numpy", sum_numpy)):
                        t = time.perf_counter()
                        parts = client.gather([client.submit(fn, a, b, pure=False) for a, b in bounds])
                        d = time.perf_counter() - t
                        assert sum(parts) == want, (key, sum(parts))
                        add(key, d)
                if w == 6:
                    ds = []
                    for _ in range(3):
                        t = time.perf_counter()
                        parts = client.gather([client.submit(small_f, a, b, pure=False) for a, b in chunks(args.map_n, 2)])
                        ys = [y for p in parts for y in p]
                        ds.append(time.perf_counter() - t)
                        assert len(ys) == args.map_n and ys[-1] == 2 * args.map_n - 1
                    add("6.python", statistics.mean(ds))
                    ds = []
                    for _ in range(3):
                        import numpy as np

                        t = time.perf_counter()
                        parts = client.gather([client.submit(small_f_numpy, a, b, pure=False) for a, b in chunks(args.map_n, 2)])
                        ys = np.concatenate(parts)
                        ds.append(time.perf_counter() - t)
                        assert len(ys) == args.map_n and ys[-1] == 2 * args.map_n - 1
                    add("6.numpy", statistics.mean(ds))
            log("workload", w, "done")
    finally:
        client.close()
        cluster.close()
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
