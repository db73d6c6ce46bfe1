"""scripts/demo, the README's first command, end to end with the real binary:
each story step's deltas reach both subscribers, the summary shows the final
state, and no process is left behind."""

import os
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def demo_processes():
    """PIDs of processes started with the demo's loopback endpoints."""
    out = subprocess.run(["pgrep", "-f", "tcp://127.0.0.1:17[1234]0"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split() if int(p) != os.getpid()]


def test_demo_shows_the_story_at_both_subscribers_and_cleans_up(policybus_bin):
    if demo_processes():
        pytest.skip("another demo is running on the demo's ports")
    env = dict(os.environ, POLICYBUS_BIN=policybus_bin, DEMO_SKIP_SETUP="1", DEMO_PAUSE="0.7")
    run = subprocess.run([os.path.join(ROOT, "scripts", "demo")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    python = [l for l in out.splitlines() if l.startswith("[python]")]
    cli = [l for l in out.splitlines() if l.startswith("[cli]")]
    # The initial violation, then step 1 (vm1 goes public) and step 2 (a second
    # violation for alice makes her a repeat offender) at both subscribers.
    assert '[python]     + ("vm4", "dave", "h3")' in python
    assert '[python]     + ("vm1", "alice", "h1")' in python
    assert '[python]     + ("repeat-offender", "alice")' in python
    assert any('"added":[["repeat-offender","alice"]]' in l for l in cli)
    # Step 3: maintenance on h3; step 4: alice becomes an admin through sre -> ops -> admin.
    assert any('"added":[["vm4","h3"]]' in l and "alerts:maintenance" in l for l in cli)
    assert '[python]     - ("vm1", "alice", "h1")' in python
    # Step 5: ops leaves admin, so bob's vm2 is a violation (recursion, retracted).
    assert '[python]     + ("vm2", "bob", "h2")' in python
    assert 'compliance:error at engine A now: ("vm4", "dave", "h3")' in out
    assert 'alerts:alert at engine B now:     ("maintenance", "vm4")' in out
    assert "processes stopped cleanly" in out
    assert demo_processes() == []
