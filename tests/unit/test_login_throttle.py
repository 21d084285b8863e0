"""Failed staff logins slow down per account and per address: a few are free, then each
failure doubles the wait before the next try; a good login clears its counts."""

from appliance.ops.auth import LoginThrottle


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_an_account_waits_after_five_failures_and_longer_after_each_more():
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(5):
        assert throttle.wait_seconds("10.0.0.1", "maria") == 0
        throttle.failed("10.0.0.1", "maria")
    assert throttle.wait_seconds("10.0.0.9", "Maria") == 2.0          # any address, the same account
    throttle.failed("10.0.0.9", "maria")
    assert throttle.wait_seconds("10.0.0.9", "maria") == 4.0
    clock.now += 4
    assert throttle.wait_seconds("10.0.0.9", "maria") == 0
    assert throttle.wait_seconds("10.0.0.2", "sam") == 0               # other accounts are not slowed


def test_an_address_guessing_many_accounts_waits_too_and_a_success_clears_it():
    throttle = LoginThrottle(Clock())
    for n in range(10):
        throttle.failed("10.0.0.7", f"user{n}")
    assert throttle.wait_seconds("10.0.0.7", "someone") == 2.0
    throttle.succeeded("10.0.0.7", "someone")
    assert throttle.wait_seconds("10.0.0.7", "someone") == 0


def test_the_wait_never_exceeds_fifteen_minutes():
    throttle = LoginThrottle(Clock())
    for _ in range(40):
        throttle.failed("10.0.0.1", "maria")
    assert throttle.wait_seconds("10.0.0.1", "maria") == 900
