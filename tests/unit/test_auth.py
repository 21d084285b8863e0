import pytest

from appliance.errors import Conflict, Invalid
from appliance.ops import auth


def test_passwords_are_stored_as_argon2id(store):
    auth.create_user(store, "jeweler", "a long staff password")
    row = store.query_one("SELECT password_hash FROM users WHERE username = 'jeweler'")
    assert row["password_hash"].startswith("$argon2id$") and "a long staff password" not in row["password_hash"]


def test_login_needs_the_right_password(store):
    auth.create_user(store, "jeweler", "a long staff password")
    assert auth.authenticate(store, "jeweler", "a long staff password")["username"] == "jeweler"
    assert auth.authenticate(store, "jeweler", "wrong password!") is None
    assert auth.authenticate(store, "nobody", "a long staff password") is None


def test_short_passwords_and_duplicate_names_are_refused(store):
    with pytest.raises(Invalid):
        auth.create_user(store, "jeweler", "short")
    auth.create_user(store, "jeweler", "a long staff password")
    with pytest.raises(Conflict):
        auth.create_user(store, "JEWELER", "another long password")


def test_a_session_works_until_it_is_ended(store):
    user_id = auth.create_user(store, "jeweler", "a long staff password")
    token, csrf = auth.start_session(store, user_id, hours=1)
    user = auth.session_user(store, token)
    assert user["username"] == "jeweler" and user["csrf_token"] == csrf
    assert store.query_one("SELECT COUNT(*) AS n FROM sessions WHERE token_hash = ?", (token,))["n"] == 0
    auth.end_session(store, token)
    assert auth.session_user(store, token) is None


def test_an_expired_session_is_dead(store):
    user_id = auth.create_user(store, "jeweler", "a long staff password")
    token, _ = auth.start_session(store, user_id, hours=0)
    assert auth.session_user(store, token) is None


def test_a_csrf_token_with_non_ascii_characters_is_refused_not_an_error():
    """Found by the form fuzz: '\\x80' as the token raised TypeError (a 500) in compare_digest."""
    from appliance.ops.auth import csrf_matches
    assert csrf_matches("abc", "\x80") is False and csrf_matches("abc", "é") is False
    assert csrf_matches("abc", "abc") is True
