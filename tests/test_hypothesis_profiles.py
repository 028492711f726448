"""Property tests are reproducible: the default hypothesis profile (conftest.py) is derandomised."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SEEN: list[int] = []


@pytest.mark.skipif(os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci", reason="another profile was asked for")
def test_the_default_profile_is_deterministic_and_has_no_deadline():
    assert settings.default.derandomize and settings.default.deadline is None
    assert settings.default.max_examples >= 50
    assert not settings.get_profile("dev").derandomize


@pytest.mark.skipif(os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci", reason="another profile was asked for")
def test_two_runs_of_a_property_draw_the_same_examples():
    runs = []
    for _ in range(2):
        SEEN.clear()

        @settings(max_examples=20)
        @given(st.integers(0, 10**9))
        def draw(x: int) -> None:
            SEEN.append(x)

        draw()
        runs.append(list(SEEN))
    assert runs[0] == runs[1] and len(set(runs[0])) > 5
