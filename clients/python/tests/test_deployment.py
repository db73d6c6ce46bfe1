"""docker/compose.yaml and scripts/demo: one topology, checked without docker.

- the compose file parses and names the expected services, with healthchecks
  and depends_on conditions;
- the demo runs the same commands (same subcommands, flags, names, policy
  and facts files, and the same peer wiring), compared after normalising
  endpoints to the service they belong to;
- every compose command is accepted by the real ``policybus``: the test runs
  the whole compose topology on loopback (endpoints and paths rewritten), waits
  for each healthcheck command to pass, and checks the subscriber sees the
  example's first violation.
"""

import os
import shlex
import socket
import subprocess
import sys
import time

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read docker/compose.yaml (scripts/setup installs it)")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
COMPOSE = os.path.join(ROOT, "docker", "compose.yaml")
DEMO = os.path.join(ROOT, "scripts", "demo")
EXPECTED = {"nova", "neutron", "keystone", "engine-a", "engine-b", "relay", "subscriber"}
NODES = ["nova", "neutron", "keystone", "engine-a", "engine-b", "relay"]  # in start order
# Flags whose value is another service's control endpoint.
UPSTREAM_FLAGS = ("--peer", "--upstream-control")


def compose():
    with open(COMPOSE) as f:
        return yaml.safe_load(f)


def compose_commands():
    """service -> argv as the container runs it (entrypoint + command)."""
    out = {}
    for name, svc in compose()["services"].items():
        entry = svc.get("entrypoint") or ["policybus"]
        out[name] = list(entry) + list(svc["command"])
    return out


def demo_commands():
    text = subprocess.run([DEMO, "--print-commands"], check=True, capture_output=True,
                          text=True, timeout=30).stdout
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        out[name] = shlex.split(rest)
    return out


def flag_pairs(args):
    """``--flag value`` pairs after the subcommand, in order."""
    pairs = []
    i = 0
    while i < len(args):
        assert args[i].startswith("--"), f"expected a flag at {args[i:]}"
        pairs.append((args[i], args[i + 1]))
        i += 2
    return pairs


def normalise(commands, reachable):
    """Rewrites endpoints to the service they name and files to their
    basenames, so compose and demo commands compare equal when they describe
    the same topology. ``reachable(service, control)`` is how peers address a
    service's control endpoint."""
    controls = {}
    for name, argv in commands.items():
        if argv[0] == "policybus":
            control = dict(flag_pairs(argv[2:]))["--control"]
            controls[reachable(name, control)] = name
    result = {}
    for name, argv in commands.items():
        if argv[0] == "policybus":
            norm = [argv[1]]
            for flag, value in flag_pairs(argv[2:]):
                if flag in ("--control", "--data"):
                    value = "SELF"
                elif flag == "--peer":
                    service, _, endpoint = value.partition("=")
                    value = f"{service}={controls[endpoint]}"
                elif flag == "--upstream-control":
                    value = controls[value]
                elif flag == "--policy":
                    policy, _, path = value.partition("=")
                    value = f"{policy}={os.path.basename(path)}"
                elif flag in ("--facts", "--schema"):
                    value = os.path.basename(value)
                elif flag == "--data-dir":
                    value = os.path.basename(value)  # a directory of the engine's own
                norm.append((flag, value))
            result[name] = (norm[0], sorted(norm[1:]))
        else:  # the Python watcher: script name, prefix, node=tables targets
            script = next(a for a in argv if a.endswith(".py"))
            rest = argv[argv.index(script) + 1:]
            prefix = rest[rest.index("--prefix") + 1] if "--prefix" in rest else ""
            targets = sorted(f"{controls[a.partition('=')[0]]}={a.partition('=')[2]}"
                             for a in rest if "=" in a and a.startswith("tcp://"))
            result[name] = (os.path.basename(script), prefix, targets)
    return result


def compose_reachable(service, control):
    return control.replace("*", service).replace("0.0.0.0", service)


# MARK: - The compose file itself

def test_compose_names_the_expected_services():
    services = compose()["services"]
    assert set(services) == EXPECTED


def test_nodes_are_health_checked_with_policybus_status_ready_and_wait_for_health():
    services = compose()["services"]
    for name in NODES:
        svc = services[name]
        flags = dict(flag_pairs(svc["command"][1:]))
        port = flags["--control"].rsplit(":", 1)[1]
        assert svc["healthcheck"]["test"] == ["CMD", "policybus", "status", "--ready", "--connect", f"tcp://127.0.0.1:{port}"]
        assert any(v.endswith(":/examples:ro") for v in svc["volumes"])
        if "--data-dir" in flags:  # an engine's state lives on a named volume
            volume = next(v.split(":")[0] for v in svc["volumes"] if v.endswith(":/var/lib/policybus"))
            assert flags["--data-dir"].startswith("/var/lib/policybus/")
            assert volume in compose()["volumes"]
    for name in ("engine-a", "engine-b", "relay", "subscriber"):
        deps = services[name]["depends_on"]
        assert deps and all(d["condition"] == "service_healthy" for d in deps.values())
    # Every peer an engine names, and the relay's upstream, is a service it waits for.
    for name in ("engine-a", "engine-b", "relay"):
        upstreams = [v for f, v in flag_pairs(services[name]["command"][1:]) if f in UPSTREAM_FLAGS]
        hosts = {v.rpartition("=")[2].split("://")[1].rsplit(":", 1)[0] for v in upstreams}
        assert hosts and hosts <= set(services[name]["depends_on"])
    # So is every node the subscriber watches.
    watched = {a.partition("=")[0].split("://")[1].rsplit(":", 1)[0]
               for a in services["subscriber"]["command"] if a.startswith("tcp://")}
    assert watched == set(services["subscriber"]["depends_on"])


def test_the_subscriber_follows_engine_a_through_the_relay():
    services = compose()["services"]
    relay = dict(flag_pairs(services["relay"]["command"][1:]))
    assert services["relay"]["command"][0] == "relay"
    assert relay["--upstream-control"] == "tcp://engine-a:7000"
    assert "tcp://relay:7000=compliance:error" in services["subscriber"]["command"]


def test_compose_files_exist_in_examples():
    for name, argv in compose_commands().items():
        for arg in argv:
            path = arg.partition("=")[2] if "=" in arg else arg
            if path.startswith("/examples/"):
                assert os.path.exists(os.path.join(ROOT, "examples", path[len("/examples/"):])), arg


def test_images_build_from_the_repository_dockerfiles():
    services = compose()["services"]
    for name in EXPECTED:
        build = services[name]["build"]
        assert os.path.exists(os.path.join(ROOT, "docker", build["context"], build["dockerfile"]))
    with open(os.path.join(ROOT, "docker", "Dockerfile")) as f:
        text = f.read()
    assert "FROM swift:" in text or "SWIFT_IMAGE=swift:" in text
    assert "debian:bookworm-slim" in text and "libzmq5" in text
    assert "USER policybus" in text and 'ENTRYPOINT ["policybus"]' in text


# MARK: - The demo runs the same commands

def test_demo_runs_the_compose_commands():
    demo = demo_commands()
    assert set(demo) == EXPECTED
    assert normalise(demo, lambda s, c: c) == normalise(compose_commands(), compose_reachable)


# MARK: - The real binary accepts every compose command

def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def on_loopback(commands, ports, state_dir):
    """Compose commands rewritten for this machine: every (service, port) gets
    its own 127.0.0.1 port, /examples is the repository's examples/, and data
    directories are under ``state_dir``."""
    mapping = {(name, port): ports.pop() for name in commands for port in ("7000", "7001")}

    def endpoint(ep, owner):
        host, port = ep.split("://")[1].rsplit(":", 1)
        service = owner if host in ("*", "0.0.0.0") else host
        return f"tcp://127.0.0.1:{mapping[(service, port)]}"

    def rewrite(arg, owner):
        if arg.startswith("tcp://"):  # an endpoint, or a watcher's ENDPOINT=TABLES
            ep, eq, tables = arg.partition("=")
            return endpoint(ep, owner) + eq + tables
        key, eq, value = arg.partition("=")
        if eq and value.startswith("tcp://"):  # --peer SERVICE=ENDPOINT
            return f"{key}={endpoint(value, owner)}"
        if arg.startswith("/var/lib/policybus/"):
            return os.path.join(state_dir, os.path.basename(arg))
        return arg.replace("/examples/", os.path.join(ROOT, "examples") + "/")

    return {name: [rewrite(a, name) for a in argv] for name, argv in commands.items()}, mapping


def test_compose_commands_run_on_loopback(policybus_bin, tmp_path):
    commands = compose_commands()
    local, mapping = on_loopback(commands, free_ports(2 * len(commands)), str(tmp_path))
    health = {name: compose()["services"][name]["healthcheck"]["test"][1:] for name in NODES}
    procs = []
    try:
        for name in NODES:
            argv = [policybus_bin] + local[name][1:]
            log = open(tmp_path / f"{name}.log", "w")
            procs.append((name, subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)))
            check = [policybus_bin] + health[name][1:]
            check[-1] = f"tcp://127.0.0.1:{mapping[(name, '7000')]}"
            deadline = time.monotonic() + 20
            while True:
                assert procs[-1][1].poll() is None, \
                    f"{name} exited: {argv}\n{(tmp_path / f'{name}.log').read_text()}"
                if subprocess.run(check, capture_output=True, timeout=10).returncode == 0:
                    break
                assert time.monotonic() < deadline, f"{name} never became healthy: {check}"
                time.sleep(0.2)
        watcher = local["subscriber"]
        script = os.path.join(ROOT, "examples", "watch.py")
        argv = [sys.executable, script] + watcher[watcher.index(next(a for a in watcher if a.endswith(".py"))) + 1:]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(("subscriber", proc))
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if '("vm4", "dave", "h3")' in line:
                break
        assert any('("vm4", "dave", "h3")' in l for l in lines), "".join(lines)
        for name, p in procs:
            assert p.poll() is None, f"{name} died"
    finally:
        for _, p in procs:
            p.terminate()
        for _, p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
