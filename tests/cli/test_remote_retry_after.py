"""How `verify --server` reads Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP date."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from app.cli.remote import _retry_after_seconds


def test_delay_seconds_are_taken_as_they_are():
    assert _retry_after_seconds("7") == 7.0
    assert _retry_after_seconds(" 0 ") == 0.0


def test_an_http_date_is_the_time_left_until_it_and_a_past_one_is_no_wait():
    left = _retry_after_seconds(formatdate(time.time() + 30, usegmt=True))
    assert left is not None and 25 <= left <= 31
    assert _retry_after_seconds(formatdate(time.time() - 60, usegmt=True)) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "²", "١٠", "Mon, 99 Foo 2026 99:99:99 GMT"])
def test_what_is_neither_means_no_retry_after(value):
    assert _retry_after_seconds(value) is None
