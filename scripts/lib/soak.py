#!/usr/bin/env python3
"""Soak test: the demo topology under random load and random restarts.

    scripts/soak --minutes N [--seed S] [--rate UPDATES_PER_SECOND] [--curve] [--binary PATH]

The topology is the demo's, read from `scripts/demo --print-commands` (which
clients/python/tests/test_deployment.py checks against docker/compose.yaml),
plus a second relay chained after the demo's; on loopback ports from a free
range chosen at start; a restarted node comes back on the same control and
data endpoints:

    publish nova, neutron, keystone   (examples/*.facts.json, *.schema.json)
        -> serve engine-a  (examples/compliance.policy)
            -> serve engine-b  (examples/alerts.policy; peers engine-a and nova)
            -> relay relay  (engine-a's endpoints served again)
                -> relay relay-2  (the soak's own: a chain of two)

Subscribers: a Python one (`python3 -m policybus subscribe --json`, the
clients/python client) and a `policybus subscribe --json` on each engine
(compliance:error at engine A, the alerts tables at engine B), and on engine
A through the relays: the CLI one relay away, the Python one two relays away.

Load: random but schema-valid updates on the data sources' stdin (`+t(...)`,
`-t(...)`, `replace t [[...]]`, `begin`/`commit`): servers move between
networks, hosts, owners and statuses, come and go; users change groups; group
nesting changes (cycles included); networks flip public; hosts enter and leave
maintenance. At random every process kind (each data source, each engine, each
kind of subscriber) is killed (SIGKILL, sometimes SIGTERM) and restarted, or
paused with SIGSTOP then continued. A restarted data source starts from the
facts it had (sometimes changed while it was down).

Every --check-seconds the load stops and the script waits (at most
--settle-seconds) until:
  - each data source's tables (`query`) equal the updates sent to it;
  - each engine's tables equal a from-scratch `policybus eval` of both
    policies over the data sources' current facts (the end-to-end check);
  - each engine's copy of a remote table equals the peer's table;
  - each subscriber's contents, rebuilt from its snapshot + delta lines,
    equal `query` at its engine (for one behind relays, the engine at the
    end of the chain);
  - `query` through each relay equals `query` at its engine.
A check that does not converge in time is a divergence. At the end it prints
`soak summary: ...` and exits 1 on any divergence (the work dir is kept then).

With --curve every node is a CURVE server with an allow-list and every client,
engines included, uses its own key pair.
"""
import argparse
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")


def demo_topology():
    """The demo's nodes in start order: name -> (subcommand, [(flag, value)]),
    every endpoint of another node written `@name`; --name, --control and
    --data left out (the soak chooses the endpoints)."""
    text = subprocess.run([os.path.join(ROOT, "scripts", "demo"), "--print-commands"], check=True,
                          capture_output=True, text=True, timeout=30).stdout
    commands = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        argv = shlex.split(rest)
        if argv[0] == "policybus":  # not the demo's subscriber: the soak has its own
            commands[name] = (argv[1], list(zip(argv[2::2], argv[3::2])))
    owner = {dict(flags)["--control"]: name for name, (_, flags) in commands.items()}
    nodes = {}
    for name, (kind, flags) in commands.items():
        out = []
        for flag, value in flags:
            if flag in ("--name", "--control", "--data"):
                continue
            if flag == "--peer":
                service, _, endpoint = value.partition("=")
                value = f"{service}=@{owner[endpoint]}"
            elif flag == "--upstream-control":
                value = "@" + owner[value]
            out.append((flag, value))
        nodes[name] = (kind, out)
    return nodes


TOPOLOGY = demo_topology()
TOPOLOGY["relay-2"] = ("relay", [("--upstream-control", "@relay")])
NODES = tuple(TOPOLOGY)
SOURCES = tuple(n for n in NODES if TOPOLOGY[n][0] == "publish")
ENGINES = tuple(n for n in NODES if TOPOLOGY[n][0] == "serve")
RELAYS = tuple(n for n in NODES if TOPOLOGY[n][0] == "relay")
# Which engine serves which policy (name, file in examples/), the nodes each
# engine reads from (service -> node), and the node each relay forwards to.
POLICY = {e: tuple(os.path.basename(part) for part in v.split("=", 1))
          for e in ENGINES for f, v in TOPOLOGY[e][1] if f == "--policy"}
PEERS = {e: {v.split("=@")[0]: v.split("=@")[1] for f, v in TOPOLOGY[e][1] if f == "--peer"} for e in ENGINES}
UPSTREAM = {r: dict(TOPOLOGY[r][1])["--upstream-control"][1:] for r in RELAYS}


def engine_behind(node):
    """The node itself, or for a relay the node at the end of its chain."""
    while node in UPSTREAM:
        node = UPSTREAM[node]
    return node


# The remote tables each engine reads.
REMOTE = {"engine-a": ["nova:servers", "neutron:networks", "keystone:users", "keystone:groups"],
          "engine-b": ["compliance:error", "nova:hosts"]}
# A rule engine B gets through the control API at start: it is durable in B's
# --data-dir, so every restart of B also checks that accepted rules survive.
RULE_B = 'busy_host(host) :- maintenance(vm1, host), maintenance(vm2, host), vm1 != vm2'
CHECKED = {"engine-a": ["compliance:error", "compliance:exposed", "compliance:member", "compliance:admin"],
           "engine-b": ["alerts:alert", "alerts:repeat_offender", "alerts:maintenance", "alerts:busy_host"]}
SUBSCRIBERS = [  # name, kind, the node it connects to, tables
    ("py-a", "python", "engine-a", ["compliance:error"]),
    ("py-b", "python", "engine-b", ["alerts:alert", "alerts:maintenance"]),
    ("cli-a", "cli", "engine-a", ["compliance:error"]),
    ("cli-b", "cli", "engine-b", ["alerts:alert", "alerts:repeat_offender", "alerts:maintenance", "alerts:busy_host"]),
    ("cli-relay", "cli", "relay", ["compliance:error", "compliance:exposed"]),
    ("py-relay-2", "python", "relay-2", ["compliance:error", "compliance:admin"]),
]

# Value pools for the random updates (the examples' names and a few more).
SERVER_IDS = [f"vm{i}" for i in range(1, 17)]
HOSTS = ["h1", "h2", "h3", "h4"]
NETWORKS = ["net-private", "net-public", "net-dmz", "net-lab"]
STATUSES = ["ACTIVE", "ACTIVE", "ACTIVE", "SHUTOFF", "ERROR"]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]
GROUPS = ["dev", "sre", "ops", "admin", "interns", "qa"]


def port_is_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_range(count, rng):
    """A base port such that base..base+count-1 are free now."""
    for _ in range(200):
        base = rng.randrange(20000, 30000 - count)
        if all(port_is_free(base + i) for i in range(count)):
            return base
    raise SystemExit("soak: no free port range")


def positional_policy(path):
    """The policy text with named arguments (`nova:hosts(name=h, state="up")`)
    rewritten by position from the examples' schemas (`nova:hosts(h, "up")`):
    `policybus eval` has no schemas, so it accepts positional arguments only."""
    schemas = {}
    for source in SOURCES:
        with open(os.path.join(EXAMPLES, f"{source}.schema.json")) as f:
            for table, columns in json.load(f).items():
                schemas[f"{source}:{table}"] = columns

    def rewrite(match):
        table, args = match.group(1), match.group(2)
        if table not in schemas or "=" not in args:
            return match.group(0)
        cells = ["_"] * len(schemas[table])
        for arg in args.split(","):
            name, value = (part.strip() for part in arg.split("=", 1))
            cells[schemas[table].index(name)] = value
        return f"{table}(" + ", ".join(cells) + ")"

    with open(path) as f:
        return re.sub(r"([a-z_]+:[a-z_]+)\(([^()]*)\)", rewrite, f.read())


def lit(value):
    return json.dumps(value)


def fact(table, row):
    return f"{table}(" + ", ".join(lit(v) for v in row) + ")"


class Proc:
    """One restartable process; its output goes to files in the work dir."""

    def __init__(self, soak, name, kind, argv_fn, stdin=False):
        self.soak, self.name, self.kind, self.argv_fn, self.stdin = soak, name, kind, argv_fn, stdin
        self.p = None
        self.generation = 0
        self.paused = False
        self.retired_resyncs = 0
        self.start()

    def start(self):
        self.generation += 1
        base = os.path.join(self.soak.work, f"{self.name}.{self.generation}")
        self.out_path, self.err_path = base + ".out", base + ".err"
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.p = subprocess.Popen(
            self.argv_fn(), stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL,
            stdout=self.out, stderr=self.err, env=self.soak.env)

    def kill(self, sig=signal.SIGKILL):
        self.retired_resyncs += self.resyncs()
        if self.p and self.p.poll() is None:
            if self.paused:
                self.p.send_signal(signal.SIGCONT)
                self.paused = False
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.p and self.p.stdin:
            try:
                self.p.stdin.close()
            except OSError:
                pass
        self.out.close()
        self.err.close()

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def write(self, text):
        try:
            self.p.stdin.write(text.encode())
            self.p.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def stdout_lines(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace").split("\n")[:-1]

    def stderr_text(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def resyncs(self):
        if self.kind not in ("python", "cli"):
            return 0
        text = self.stderr_text()
        return text.count("resync (") if self.kind == "cli" else text.count(": resync")


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.binary = args.binary
        self.work = tempfile.mkdtemp(prefix="policybus-soak-")
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.path.join(ROOT, "clients", "python") + (
            ":" + self.env["PYTHONPATH"] if self.env.get("PYTHONPATH") else "")
        self.stats = dict(updates=0, transactions=0, restarts=0, pauses=0, checks=0, divergences=0, resyncs=0)
        self.kills = {}
        self.diverged = {}  # what diverged -> at how many checks
        base = free_port_range(2 * len(NODES), self.rng)
        self.control = {n: f"tcp://127.0.0.1:{base + 2 * i}" for i, n in enumerate(NODES)}
        self.data = {n: f"tcp://127.0.0.1:{base + 2 * i + 1}" for i, n in enumerate(NODES)}
        # The data sources' contents as the updates sent so far make them.
        self.model = {}
        for source in SOURCES:
            with open(os.path.join(EXAMPLES, f"{source}.facts.json")) as f:
                self.model[source] = {t: {tuple(r) for r in rows} for t, rows in json.load(f).items()}

    # -- keys (--curve) --

    def make_keys(self):
        self.keys = os.path.join(self.work, "keys")
        os.makedirs(self.keys)
        names = list(NODES) + [f"client-{n}" for n in ENGINES + RELAYS] + ["client"]
        for name in names:
            if self.cli(["keygen", "--out", os.path.join(self.keys, name)]) is None:
                raise SystemExit("soak: keygen failed")
        for server in NODES:
            allow = os.path.join(self.keys, "allow-" + server)
            os.makedirs(allow)
            clients = ["client"] + [f"client-{e}" for e in ENGINES if server in PEERS[e].values()] + [
                f"client-{r}" for r in RELAYS if UPSTREAM[r] == server]
            for client in clients:
                shutil.copy(os.path.join(self.keys, client + ".pub"), allow)

    def server_curve(self, name):
        if not self.args.curve:
            return []
        return ["--curve-secret-key", os.path.join(self.keys, name + ".key"),
                "--authorized-keys", os.path.join(self.keys, "allow-" + name)]

    def peer_curve(self, engine):
        if not self.args.curve:
            return []
        out = []
        for service, node in PEERS[engine].items():
            out += ["--peer-server-key", f"{service}=" + os.path.join(self.keys, node + ".pub")]
        return out + ["--peer-client-key", os.path.join(self.keys, "client-" + engine)]

    def upstream_curve(self, relay):
        if not self.args.curve:
            return []
        return ["--upstream-server-key", os.path.join(self.keys, UPSTREAM[relay] + ".pub"),
                "--upstream-client-key", os.path.join(self.keys, "client-" + relay)]

    def client_curve(self, node):
        if not self.args.curve:
            return []
        return ["--server-key", os.path.join(self.keys, node + ".pub"), "--client-key", os.path.join(self.keys, "client")]

    # -- processes --

    def facts_file(self, source):
        path = os.path.join(self.work, f"{source}.facts.json")
        with open(path, "w") as f:
            json.dump({t: sorted(list(r) for r in rows) for t, rows in self.model[source].items()}, f)
        return path

    def node_argv(self, name):
        """The demo's command for the node, on the soak's endpoints and files."""
        kind, flags = TOPOLOGY[name]
        argv = [self.binary, kind, "--name", name, "--control", self.control[name], "--data", self.data[name]]
        for flag, value in flags:
            if "@" in value:  # another node's control endpoint
                prefix, _, node = value.partition("@")
                value = prefix + self.control[node]
            elif flag == "--facts":  # the data source's facts as the updates made them
                value = self.facts_file(name)
            elif flag == "--data-dir":
                value = os.path.join(self.work, name + ".state")
            elif flag in ("--schema", "--policy"):
                prefix, _, path = value.rpartition("=")
                value = (prefix + "=" if prefix else "") + os.path.join(ROOT, path)
            argv += [flag, value]
        argv += self.server_curve(name)
        if kind == "relay":
            return argv + self.upstream_curve(name)
        hb = ["--heartbeat-ms", str(self.args.heartbeat_ms), "--lease-ms", str(self.args.lease_ms)]
        return argv + hb + (self.peer_curve(name) if kind == "serve" else [])

    def subscriber_argv(self, kind, node, tables):
        if kind == "python":
            return [sys.executable, "-m", "policybus", "--request-timeout", "120"] + self.client_curve(node) + [
                "subscribe", self.control[node], "--json"] + tables
        return [self.binary, "subscribe", "--connect", self.control[node], "--json", "--connect-timeout", "120"] + (
            self.client_curve(node) + tables)

    def start_all(self):
        self.eval_policies = []
        for policy, file in POLICY.values():
            path = os.path.join(self.work, f"{policy}.policy")  # eval names a policy after its file
            with open(path, "w") as f:
                f.write(positional_policy(os.path.join(EXAMPLES, file)))
                if policy == "alerts":
                    f.write("\n" + RULE_B + "\n")
            self.eval_policies.append(path)
        if self.args.curve:
            self.make_keys()
        self.nodes = {}
        for name in NODES:
            kind = {"publish": "source", "serve": "engine", "relay": "relay"}[TOPOLOGY[name][0]]
            self.nodes[name] = Proc(self, name, kind, lambda n=name: self.node_argv(n), stdin=name in SOURCES)
            if not self.wait_answering(name):
                raise SystemExit(f"soak: {name} did not come up: {self.nodes[name].stderr_text()[-800:]}")
        if self.cli(["rules", "--connect", self.control["engine-b"]] + self.client_curve("engine-b")
                    + ["insert", "alerts", RULE_B]) is None:
            raise SystemExit("soak: cannot insert the rule into engine-b")
        self.subscribers = []
        for name, kind, node, tables in SUBSCRIBERS:
            proc = Proc(self, name, kind, lambda k=kind, n=node, t=tables: self.subscriber_argv(k, n, t))
            proc.node, proc.engine, proc.tables = node, engine_behind(node), tables
            self.subscribers.append(proc)

    def processes(self):
        return list(self.nodes.values()) + self.subscribers

    def wait_answering(self, name, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.cli(["status", "--connect", self.control[name], "--timeout", "1"] + self.client_curve(name)) is not None:
                return True
            time.sleep(0.1)
        return False

    def cli(self, args, timeout=20):
        try:
            r = subprocess.run([self.binary] + args, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return r.stdout.decode() if r.returncode == 0 else None

    def query(self, node, table):
        out = self.cli(["query", "--connect", self.control[node], "--json", "--timeout", "3", table] + self.client_curve(node))
        if out is None:
            return None
        return {tuple(r) for r in json.loads(out)["rows"]}

    # -- load --

    def rows(self, source, table):
        return self.model[source].setdefault(table, set())

    def random_change(self, source):
        """One random schema-valid change to a source: its stdin lines, applied to the model."""
        rng = self.rng
        if source == "nova":
            servers = self.rows("nova", "servers")
            if rng.random() < 0.2:
                hosts = self.rows("nova", "hosts")
                host = rng.choice(HOSTS)
                old = {r for r in hosts if r[0] == host}
                if old and rng.random() < 0.1:
                    new = set()  # the host leaves
                else:
                    state = "maintenance" if not old or next(iter(old))[1] == "up" else "up"
                    new = {(host, state)}
                return self.swap("hosts", hosts, old, new)
            vm = rng.choice(SERVER_IDS)
            old = {r for r in servers if r[0] == vm}
            if old and rng.random() < 0.1:
                return self.swap("servers", servers, old, set())
            if old:
                row = list(next(iter(old)))
                column = rng.choice([2, 3, 4, 5])
                row[column] = rng.choice({2: HOSTS, 3: NETWORKS, 4: STATUSES, 5: USERS}[column])
            else:
                row = [vm, f"srv-{vm}", rng.choice(HOSTS), rng.choice(NETWORKS), rng.choice(STATUSES), rng.choice(USERS)]
            return self.swap("servers", servers, old, {tuple(row)})
        if source == "neutron":
            networks = self.rows("neutron", "networks")
            net = rng.choice(NETWORKS)
            old = {r for r in networks if r[0] == net}
            if old and rng.random() < 0.1:
                new = set()
            else:
                public = 1 - next(iter(old))[2] if old else rng.choice([0, 1])
                new = {(net, net.split("-")[1], public)}
            if rng.random() < 0.4:
                networks -= old
                networks |= new
                rows = sorted(list(r) for r in networks)
                return [f"replace networks {json.dumps(rows)}"]
            return self.swap("networks", networks, old, new)
        if rng.random() < 0.5:
            users = self.rows("keystone", "users")
            user = rng.choice(USERS)
            old = {r for r in users if r[0] == user}
            if old and rng.random() < 0.1:
                new = set()
            else:
                new = {(user, user.capitalize(), rng.choice(GROUPS))}
            return self.swap("users", users, old, new)
        # Group nesting (name, parent), cycles included. Removing in proportion
        # to the count keeps it near three edges: denser nesting would soon
        # make everyone an admin and leave compliance:error empty.
        groups = self.rows("keystone", "groups")
        if groups and rng.random() < len(groups) / (len(groups) + 3):
            return self.swap("groups", groups, {rng.choice(sorted(groups))}, set())
        return self.swap("groups", groups, set(), {tuple(rng.sample(GROUPS, 2))})

    @staticmethod
    def swap(table, rows, old, new):
        """Lines that remove old and add new (the model changes too)."""
        lines = [f"-{fact(table, r)}" for r in sorted(old - new)] + [f"+{fact(table, r)}" for r in sorted(new - old)]
        rows -= old
        rows |= new
        return lines

    def update(self):
        sources = [s for s in SOURCES if not self.nodes[s].paused and self.nodes[s].alive()]
        if not sources:
            return
        source = self.rng.choices(sources, weights=[{"nova": 5, "neutron": 2, "keystone": 3}[s] for s in sources])[0]
        lines = []
        grouped = self.rng.random() < 0.85
        for _ in range(self.rng.choice([1, 1, 1, 2, 3]) if grouped else 1):
            lines += self.random_change(source)
        if not lines:
            return
        if grouped and len(lines) > 1:
            lines = ["begin"] + lines + ["commit"]
            self.stats["transactions"] += 1
        else:
            self.stats["transactions"] += len(lines)
        if self.nodes[source].write("".join(line + "\n" for line in lines)):
            self.stats["updates"] += 1

    def load_for(self, seconds):
        until = time.time() + seconds
        while time.time() < until:
            self.update()
            time.sleep(self.rng.expovariate(self.args.rate))

    def disturb(self):
        """Kill and restart, or pause, one process; each kind equally often."""
        rng = self.rng
        proc = rng.choice([self.nodes[n] for n in NODES] + [
            rng.choice([s for s in self.subscribers if s.kind == "python"]),
            rng.choice([s for s in self.subscribers if s.kind == "cli"])])
        how = rng.random()
        if how < 0.2:
            proc.p.send_signal(signal.SIGSTOP)
            proc.paused = True
            self.stats["pauses"] += 1
            seconds = rng.uniform(1, 6)
            self.log(f"pause {proc.name} for {seconds:.1f}s")
            self.load_for(seconds)
            proc.p.send_signal(signal.SIGCONT)
            proc.paused = False
            return
        sig = signal.SIGTERM if how < 0.35 else signal.SIGKILL
        proc.kill(sig)
        down = rng.uniform(0, 3)
        if proc.kind == "source" and rng.random() < 0.5:
            # It comes back with other facts: the engines must take the new epoch's snapshot.
            for _ in range(rng.randrange(1, 5)):
                self.random_change(proc.name)
        self.load_for(down)  # the other sources keep changing meanwhile
        proc.start()
        self.stats["restarts"] += 1
        self.kills[proc.kind] = self.kills.get(proc.kind, 0) + 1
        self.log(f"restart {proc.name} ({signal.Signals(sig).name}, down {down:.1f}s)")

    # -- checks --

    @staticmethod
    def contents(lines, table):
        rows = set()
        for line in lines:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("table") != table:
                continue
            if msg["kind"] == "snapshot":
                rows = {tuple(r) for r in msg["rows"]}
            elif msg["kind"] == "delta":
                rows -= {tuple(r) for r in msg["removed"]}
                rows |= {tuple(r) for r in msg["added"]}
        return rows

    def evaluate(self, facts):
        """Every checked table from a from-scratch `policybus eval` over facts."""
        path = os.path.join(self.work, "check.facts.json")
        with open(path, "w") as f:
            json.dump({t: sorted(list(r) for r in rows) for t, rows in facts.items()}, f)
        # Every data source table goes in, whether or not a rule reads it.
        out = self.cli(["eval", "--json", "--allow-unknown-facts", "--facts", path] + self.eval_policies, timeout=60)
        if out is None:
            return None
        tables = json.loads(out).get("tables", {})
        return {t: {tuple(r) for r in tables.get(t, [])} for e in ENGINES for t in CHECKED[e]}

    def differences(self):
        problems = []
        for proc in self.processes():
            if not proc.alive():
                problems.append(f"{proc.name} exited ({proc.p.returncode}): {proc.stderr_text()[-400:]!r}")
        facts = {}
        for source in SOURCES:
            # A rejected stdin line would be a bug in this script's updates.
            rejected = [line for line in self.nodes[source].stderr_text().splitlines() if "error" in line.lower()]
            if rejected:
                problems.append(f"{source} rejected updates: {rejected[:2]}")
            for table, rows in self.model[source].items():
                got = self.query(source, f"{source}:{table}")
                facts[f"{source}:{table}"] = got if got is not None else set()
                if got != rows:
                    problems.append(f"{source}:{table}: query has {None if got is None else len(got)} rows, "
                                    f"the updates sent make {len(rows)} (missing {sorted(rows - (got or set()))[:3]}, "
                                    f"extra {sorted((got or set()) - rows)[:3]})")
        expected = self.evaluate(facts)
        if expected is None:
            problems.append("policybus eval failed")
            expected = {}
        actual = {}
        for engine in ENGINES:
            for table in CHECKED[engine]:
                got = actual[table] = self.query(engine, table)
                want = expected.get(table)
                if want is not None and got != want:
                    problems.append(f"{engine} {table}: query has {None if got is None else len(got)} rows, eval has "
                                    f"{len(want)} (missing {sorted(want - (got or set()))[:3]}, extra {sorted((got or set()) - want)[:3]})")
            for table in REMOTE[engine]:
                got = self.query(engine, table)
                want = facts.get(table, actual.get(table))
                if got != want:
                    problems.append(f"{engine}'s copy of {table}: {None if got is None else len(got)} rows, "
                                    f"the peer has {None if want is None else len(want)}")
        for relay in RELAYS:  # the control path: a query through the relay is the engine's
            table = CHECKED[engine_behind(relay)][0]
            got = self.query(relay, table)
            if got != actual.get(table):
                problems.append(f"{relay} {table}: query through it has {None if got is None else len(got)} rows, "
                                f"{engine_behind(relay)} has {len(actual.get(table) or ())}")
        for sub in self.subscribers:
            for table in sub.tables:
                got = self.contents(sub.stdout_lines(), table)
                want = actual.get(table)
                if got != want:
                    problems.append(f"{sub.name} {table}: {len(got)} rows, query at {sub.engine} has "
                                    f"{None if want is None else len(want)} (missing {sorted((want or set()) - got)[:3]}, "
                                    f"extra {sorted(got - (want or set()))[:3]})")
        return problems, facts, actual

    def check(self):
        self.stats["checks"] += 1
        deadline = time.time() + self.args.settle_seconds
        problems, facts, actual = self.differences()
        while problems and time.time() < deadline:
            time.sleep(1)
            problems, facts, actual = self.differences()
        sizes = ", ".join(f"{t} {len(actual.get(t) or ())}" for t in ("compliance:exposed", "compliance:admin", "compliance:error", "alerts:alert"))
        if problems:
            self.stats["divergences"] += 1
            self.log(f"check {self.stats['checks']}: DIVERGENCE: " + "; ".join(problems))
            for problem in problems:
                words = problem.split()  # e.g. "py-b alerts:maintenance: ..." -> "py-b alerts:maintenance"
                what = words[0].rstrip(":") + (" " + words[1].rstrip(":") if ":" in words[1].rstrip(":") else "")
                self.diverged[what] = self.diverged.get(what, 0) + 1
            # A subscriber that diverged is restarted (its output is kept), so
            # that later checks test it afresh instead of repeating this one.
            for sub in self.subscribers:
                if any(problem.startswith(sub.name + " ") for problem in problems):
                    sub.kill(signal.SIGKILL)
                    sub.start()
                    self.log(f"restart {sub.name} after its divergence")
        else:
            self.log(f"check {self.stats['checks']}: converged ({sum(len(r) for r in facts.values())} facts; {sizes})")

    def log(self, text):
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    # -- main --

    def run(self):
        self.log(f"soak: seed {self.args.seed}, {self.args.minutes} min, rate {self.args.rate}/s, "
                 f"{'CURVE' if self.args.curve else 'plaintext'}, work dir {self.work}")
        start = time.time()
        try:
            self.start_all()
            self.log("nodes: " + ", ".join(f"{n} {self.control[n]}" for n in NODES))
            end = start + self.args.minutes * 60
            next_disturb = time.time() + self.rng.uniform(self.args.restart_min, self.args.restart_max)
            next_check = time.time() + self.args.check_seconds
            while time.time() < end:
                self.update()
                time.sleep(self.rng.expovariate(self.args.rate))
                now = time.time()
                if now >= next_disturb:
                    self.disturb()
                    next_disturb = time.time() + self.rng.uniform(self.args.restart_min, self.args.restart_max)
                if now >= next_check:
                    self.check()
                    next_check = time.time() + self.args.check_seconds
            self.check()
        finally:
            for proc in getattr(self, "subscribers", []) + list(getattr(self, "nodes", {}).values()):
                proc.kill(signal.SIGTERM)
        s = self.stats
        s["resyncs"] = sum(p.retired_resyncs for p in self.processes())
        kills = ", ".join(f"{k} {n}" for k, n in sorted(self.kills.items()))
        print(f"soak summary: {self.args.minutes} min, seed {self.args.seed}{', CURVE' if self.args.curve else ''}: "
              f"updates sent {s['updates']} ({s['transactions']} transactions), restarts {s['restarts']} ({kills}), "
              f"pauses {s['pauses']}, resyncs {s['resyncs']}, checks {s['checks']}, divergences {s['divergences']}"
              + (" (" + ", ".join(f"{w} at {n}" for w, n in sorted(self.diverged.items())) + ")" if self.diverged else ""),
              flush=True)
        if s["divergences"] == 0 and not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"soak: work dir kept: {self.work}", flush=True)
        return 1 if s["divergences"] else 0


def main():
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 32))
    parser.add_argument("--rate", type=float, default=50, help="updates per second (default 50)")
    parser.add_argument("--check-seconds", type=float, default=45)
    parser.add_argument("--settle-seconds", type=float, default=30)
    parser.add_argument("--restart-min", type=float, default=4)
    parser.add_argument("--restart-max", type=float, default=12)
    parser.add_argument("--heartbeat-ms", type=int, default=200)
    parser.add_argument("--lease-ms", type=int, default=3000)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "policybus"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--curve", action="store_true", help="CURVE with allow-lists on every node and client")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"soak: no binary at {args.binary}; run scripts/setup (or swift build) first")
    sys.exit(Soak(args).run())


if __name__ == "__main__":
    main()
