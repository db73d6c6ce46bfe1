"""Fixtures that run real ``policybus`` processes on loopback.

Every process is killed and reaped when its test ends, pass or fail; its
stderr is drained by a thread (so it never blocks) and shown on failure.
"""

import contextlib
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from policybus.errors import PolicyBusError


class Node:
    """A running ``policybus serve`` or ``publish`` process."""

    def __init__(self, argv, name):
        self.argv = argv
        self.name = name
        self.log = []
        self.control = self.data = None
        self._started = threading.Event()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._started.wait(20):
            self.stop()
            raise AssertionError(f"{name} did not log its endpoints: {argv}\n" + "".join(self.log))

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"control=(\S+) data=(\S+)", line)
            if m and not self._started.is_set():
                self.control, self.data = m.group(1), m.group(2)
                self._started.set()
        self._started.set()  # exited: let the waiter fail with the log

    def feed(self, *lines):
        """Writes update lines to a data source's stdin (each one a transaction)."""
        for line in lines:
            self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(Exception):
            self.proc.stdin.close()


@pytest.fixture
def policybus_bin():
    path = os.environ.get("POLICYBUS_BIN")
    if not path:
        pytest.skip("POLICYBUS_BIN is not set (scripts/test sets it)")
    assert os.path.exists(path), f"POLICYBUS_BIN={path} does not exist; build it first"
    return path


@pytest.fixture
def nodes(policybus_bin, tmp_path, request):
    """Starts nodes: ``nodes.publish(name, facts, schema=None, ...)`` and
    ``nodes.serve(name, policies={name: text}, peers={service: node}, ...)``."""
    started = []

    class Starter:
        bin = policybus_bin

        def publish(self, name, facts, schema=None, control="tcp://127.0.0.1:*", extra=()):
            facts_file = tmp_path / f"{name}.facts.json"
            facts_file.write_text(json.dumps(facts))
            argv = [policybus_bin, "publish", "--name", name, "--control", control,
                    "--facts", str(facts_file), "--heartbeat-ms", "200", *extra]
            if schema is not None:
                schema_file = tmp_path / f"{name}.schema.json"
                schema_file.write_text(json.dumps(schema))
                argv += ["--schema", str(schema_file)]
            return self._start(argv, name)

        def serve(self, name, policies, peers=None, control="tcp://127.0.0.1:*", extra=(), data_dir=True):
            # A data directory per test: nothing carries over between tests,
            # and a restarted engine (same argv) finds its own state.
            argv = [policybus_bin, "serve", "--name", name, "--control", control, "--heartbeat-ms", "200"]
            # Without one, no data directory at all: the default one
            # (~/.local/state/policybus/NAME) would carry over between tests.
            argv += ["--data-dir", str(tmp_path / f"{name}.state")] if data_dir else ["--no-data-dir"]
            argv += extra
            for policy, text in policies.items():
                path = tmp_path / f"{policy}.policy"
                path.write_text(text)
                argv += ["--policy", f"{policy}={path}"]
            for service, node in (peers or {}).items():
                argv += ["--peer", f"{service}={node.control}"]
            return self._start(argv, name)

        def restart(self, node):
            """Stops ``node`` and starts it again with the same argv, except
            that its ``--control`` and ``--data`` (when given) are the
            endpoints it actually bound: a node started on port ``*`` comes
            back on the same port, with no window in which a port chosen in
            advance could be taken by someone else."""
            node.stop()
            argv = list(node.argv)
            for flag, bound in (("--control", node.control), ("--data", node.data)):
                if flag in argv:
                    argv[argv.index(flag) + 1] = bound
            return self._start(argv, node.name)

        def _start(self, argv, name):
            node = Node(argv, name)
            started.append(node)
            return node

    yield Starter()
    for node in started:
        node.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for node in started:
            print(f"--- {node.name} log ---\n" + "".join(node.log))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@contextlib.contextmanager
def holding(endpoint):
    """Keeps a tcp endpoint's port bound (and silent) meanwhile: a node
    restarted without ``--data`` must then bind another data port."""
    host, port = endpoint.rpartition("//")[2].rsplit(":", 1)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((host, int(port)))
        squatter.listen()
        yield


def wait_for(predicate, timeout=60.0, what="condition"):
    """Polls ``predicate`` until true; fails after ``timeout`` seconds. A
    ``not-ready`` refusal (an engine whose peer tables have not synced yet)
    counts as not yet true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except PolicyBusError as error:
            if error.code != "not-ready":
                raise
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
