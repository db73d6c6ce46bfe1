#!/usr/bin/env python3
"""Issue 15's comparison with DuckDB, on the same inputs, in one run.

    python3 Benchmarks/duckdb/ratios.py [--quick] [--bin DIR] [--no-eval]

`EngineBench ratios --inputs DIR` writes each workload's inputs (NAME.policy,
NAME.facts.json, NAME.TABLE.csv) and prints the engine's own time for it (one
`Engine.load` of rules and facts). Then, for each workload:

- `policybus eval NAME.policy --facts NAME.facts.json --json`, end to end: it
  reads the facts file, evaluates, and prints every row (to /dev/null), with
  the budget lifted;
- DuckDB with one thread, in a fresh process: the CSVs loaded into tables,
  then the rows counted (recursive CTEs; the non-linear closure in the
  `USING KEY` form, as DuckDB's plain recursive CTE reads only the last
  iteration's rows on both sides of the join and misses paths).

Times are CPU seconds (user + system) of the process or thread, so that other
processes on a busy machine inflate them less; wall times and peak resident
sets are printed too. A ratio below 1 means PolicyBus is faster. When the
`duckdb` module is missing (scripts/setup installs it into .venv), the DuckDB
columns say so and the rest still runs.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# Per workload: the CSV tables (columns and types) and DuckDB's query.
DUCKDB = {
    "tc": ({"edge": "x INTEGER, y INTEGER"}, """
        WITH RECURSIVE path(x, y) AS (
            SELECT x, y FROM edge
            UNION SELECT path.x, edge.y FROM path JOIN edge ON path.y = edge.x)
        SELECT count(*) FROM path"""),
    "nonlinear_tc": ({"edge": "x INTEGER, y INTEGER"}, """
        WITH RECURSIVE path(x, y) USING KEY (x, y) AS (
            SELECT x, y FROM edge
            UNION (SELECT p.x, q.y FROM path p JOIN recurring.path q ON p.y = q.x
                   UNION SELECT p.x, q.y FROM recurring.path p JOIN path q ON p.y = q.x))
        SELECT count(*) FROM path"""),
    "same_generation": ({"edge": "x INTEGER, y INTEGER"}, """
        WITH RECURSIVE sg(x, y) AS (
            SELECT a.y, b.y FROM edge a JOIN edge b ON a.x = b.x WHERE a.y <> b.y
            UNION SELECT a.y, b.y FROM edge a JOIN sg ON a.x = sg.x JOIN edge b ON b.x = sg.y)
        SELECT count(*) FROM sg"""),
    "join_negation": ({"servers": "vm VARCHAR, host VARCHAR", "allowed": "host VARCHAR"}, """
        SELECT count(DISTINCT s.vm) FROM servers s ANTI JOIN allowed a ON s.host = a.host"""),
}
DUCKDB["tc_chain"] = DUCKDB["tc"]
# eval's default budget (a million derived rows, ...) would stop the large workloads.
UNLIMITED = ["--max-derived-rows", str(1 << 40), "--max-computed-bytes", str(1 << 40), "--max-transaction-ms", str(1 << 40)]


def duckdb_one(workload, directory):
    """Runs in a child process: load the CSVs and run the query; prints JSON."""
    import duckdb
    tables, query = DUCKDB[workload]
    connection = duckdb.connect()
    connection.execute("SET threads = 1")
    cpu, wall = time.process_time(), time.perf_counter()
    for table, columns in tables.items():
        connection.execute(f"CREATE TABLE {table} ({columns})")
        path = os.path.join(directory, f"{workload}.{table}.csv")
        connection.execute(f"COPY {table} FROM '{path}' (FORMAT csv, HEADER false)")
    load_cpu = time.process_time() - cpu
    (rows,) = connection.execute(query).fetchone()
    print(json.dumps({"rows": rows, "cpu_s": time.process_time() - cpu, "load_cpu_s": load_cpu,
                      "wall_s": time.perf_counter() - wall, "version": duckdb.__version__}))


def run_measured(argv, capture=False):
    """Runs argv; its exit status, wall time, CPU time, peak resident set (MiB), stdout (when captured) and stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out if capture else subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (process.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read(),
                err.read().decode(errors="replace"))


def duckdb_available():
    try:
        import duckdb  # noqa: F401
        return True
    except ImportError:
        return False


def seconds(value):
    return "–" if value is None else f"{value:.3f} s"


def ratio(ours, theirs):
    return "–" if ours is None or not theirs else f"{ours / theirs:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"),
                        help="where EngineBench and policybus are (default .build/release)")
    parser.add_argument("--no-eval", action="store_true", help="skip policybus eval")
    parser.add_argument("--duckdb-one", nargs=2, metavar=("WORKLOAD", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.duckdb_one:
        duckdb_one(*args.duckdb_one)
        return 0

    have_duckdb = duckdb_available()
    if not have_duckdb:
        print("ratios: the duckdb module is not installed (scripts/setup installs it into .venv); DuckDB skipped")
    directory = tempfile.mkdtemp(prefix="policybus-ratios-")
    try:
        argv = [os.path.join(args.bin, "EngineBench"), "ratios", "--inputs", directory] + (["--quick"] if args.quick else [])
        status, _, _, _, output, error = run_measured(argv, capture=True)
        if status != 0:
            sys.exit(f"ratios: EngineBench failed ({status}): {error}")
        workloads = [json.loads(line[len("ratios "):]) for line in output.decode().splitlines() if line.startswith("ratios ")]
        rows = []
        for w in workloads:
            name = w["workload"]
            eval_result = duck = None
            if not args.no_eval:
                status, wall, cpu, rss, _, error = run_measured(
                    [os.path.join(args.bin, "policybus"), "eval", os.path.join(directory, name + ".policy"),
                     "--facts", os.path.join(directory, name + ".facts.json"), "--json"] + UNLIMITED)
                if status != 0:
                    sys.exit(f"ratios: policybus eval {name} failed ({status}): {error}")
                eval_result = (wall, cpu, rss)
            if have_duckdb:
                status, wall, _, rss, output, error = run_measured(
                    [sys.executable, os.path.abspath(__file__), "--duckdb-one", name, directory], capture=True)
                if status != 0:
                    sys.exit(f"ratios: DuckDB {name} failed ({status}): {error}")
                duck = json.loads(output)
                duck["rss"] = rss
                if duck["rows"] != w["rows"]:
                    print(f"ratios: {name}: DuckDB counts {duck['rows']} rows, the engine {w['rows']}")
            rows.append((w, eval_result, duck))
        print_table(rows, have_duckdb)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


def print_table(rows, have_duckdb):
    version = next((d["version"] for _, _, d in rows if d), None)
    print(f"\nDuckDB ratios (CPU seconds; DuckDB {version or 'not installed'}, 1 thread; ratio = ours / DuckDB's load+query)")
    print("| Workload | facts → rows | engine | eval end to end (wall, peak RSS) | DuckDB load+query (wall, peak RSS) "
          "| engine / DuckDB | eval / DuckDB |")
    print("|---|---|---|---|---|---|---|")
    for w, ev, duck in rows:
        engine = w["engine_cpu_s"]
        eval_text = "–" if ev is None else f"{ev[1]:.3f} s ({ev[0]:.2f} s, {ev[2]:.0f} MiB)"
        if duck is None:
            duck_text = "skipped" if not have_duckdb else "–"
        else:
            duck_text = f"{duck['cpu_s']:.3f} s ({duck['wall_s']:.2f} s, {duck['rss']:.0f} MiB)"
        theirs = duck["cpu_s"] if duck else None
        print(f"| {w['workload']} | {w['facts']:,} → {w['rows']:,} {w['table']} | {seconds(engine)} | {eval_text} | {duck_text} "
              f"| {ratio(engine, theirs)} | {ratio(ev[1] if ev else None, theirs)} |")


if __name__ == "__main__":
    sys.exit(main())
