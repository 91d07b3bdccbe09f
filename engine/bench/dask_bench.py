# Dask peer for engine/bench: prints one JSON line with start-up time,
# submit-to-first-task-done latency and trivial-task throughput.
import json, logging, sys, time

logging.disable(logging.WARNING)
from dask.distributed import Client, LocalCluster


def inc(x):
    return x + 1


def main():
    tasks, workers = int(sys.argv[1]), int(sys.argv[2])
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    client.wait_for_workers(workers)
    start = time.perf_counter() - t0
    t1 = time.perf_counter()
    client.submit(inc, -1, pure=False).result()
    first = time.perf_counter() - t1
    t2 = time.perf_counter()
    client.gather(client.map(inc, range(tasks), pure=False))
    per_sec = tasks / (time.perf_counter() - t2)
    client.close()
    cluster.close()
    print(json.dumps({"Start": start, "First": first, "PerSec": per_sec, "Tasks": tasks}))


if __name__ == "__main__":
    main()
