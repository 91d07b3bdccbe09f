# Dask peer for shuffle/bench: a task-based shuffle (df.shuffle with
# shuffle="tasks") of about BYTES bytes of key/value rows from INPUTS
# partitions into PARTS partitions on a LocalCluster of WORKERS worker
# processes. The input is generated and persisted first; only the shuffle
# is timed. Prints one JSON line.
#
# MODE "bytes": an 8-byte bytes key and a 92-byte bytes value per row, the
# records cz shuffles (object columns). MODE "numeric": an int64 key and
# 11 float64 + 1 int32 payload columns (100 bytes a row), Dask's best case.
import json, logging, sys, time

logging.disable(logging.WARNING)
import numpy as np
import pandas as pd
import dask.dataframe as dd
from dask.distributed import Client, LocalCluster, wait

ROW_BYTES = 100


def make_numeric(i, rows):
    rng = np.random.default_rng(i)
    cols = {"key": rng.integers(0, 2**62, rows, dtype=np.int64)}
    for c in range(11):
        cols[f"v{c}"] = rng.random(rows)
    cols["w"] = rng.integers(0, 2**31, rows, dtype=np.int32)
    return pd.DataFrame(cols)


def make_bytes(i, rows):
    rng = np.random.default_rng(i)
    k = rng.bytes(rows * 8)
    v = rng.bytes(rows * 92)
    return pd.DataFrame({
        "key": [k[j * 8:(j + 1) * 8] for j in range(rows)],
        "value": [v[j * 92:(j + 1) * 92] for j in range(rows)],
    })


def main():
    total, inputs, parts, workers = (int(a) for a in sys.argv[1:5])
    make = make_bytes if sys.argv[5] == "bytes" else make_numeric
    rows = total // ROW_BYTES // inputs
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    client.wait_for_workers(workers)
    df = dd.from_map(make, range(inputs), rows=rows, meta=make(0, 0)).persist()
    wait(df)
    t0 = time.perf_counter()
    out = df.shuffle("key", npartitions=parts, shuffle="tasks").persist()
    wait(out)
    secs = time.perf_counter() - t0
    n = len(out)
    client.close()
    cluster.close()
    print(json.dumps({"Bytes": rows * inputs * ROW_BYTES, "Rows": n, "WantRows": rows * inputs, "Seconds": secs}))


if __name__ == "__main__":
    main()
