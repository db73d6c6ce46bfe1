"""The wildcard data endpoint rule, against the vectors the Swift client's
tests read too (Tests/Corpus/endpoints/data-endpoint.json)."""

import json
import pathlib

import pytest

from policybus.protocol import data_endpoint

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "Tests" / "Corpus" / "endpoints" / "data-endpoint.json"
CASES = json.loads(VECTORS.read_text())["cases"]


def test_vectors_are_there():
    assert len(CASES) > 10


@pytest.mark.parametrize("case", CASES, ids=[c["advertised"] + " via " + c["control"] for c in CASES])
def test_data_endpoint_agrees_with_the_shared_vectors(case):
    assert data_endpoint(case["advertised"], case["control"]) == case["expected"], case["why"]
