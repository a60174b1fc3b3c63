from __future__ import annotations

from gatekeeper.settings import Settings
from gatekeeper.signing import sign, verify


def test_signature_covers_ids_policy_and_payload() -> None:
    sig = sign(b"k1", "r-1", "dec-1", "default@abc", b'{"x":1}')
    assert verify([b"k1"], sig, "r-1", "dec-1", "default@abc", b'{"x":1}')
    assert not verify([b"k1"], sig, "r-2", "dec-1", "default@abc", b'{"x":1}')
    assert not verify([b"k1"], sig, "r-1", "dec-2", "default@abc", b'{"x":1}')
    assert not verify([b"k1"], sig, "r-1", "dec-1", "default@xyz", b'{"x":1}')
    assert not verify([b"k1"], sig, "r-1", "dec-1", "default@abc", b'{"x":2}')
    assert not verify([b"k2"], sig, "r-1", "dec-1", "default@abc", b'{"x":1}')


def test_rotation_accepts_any_configured_key() -> None:
    settings = Settings.from_env({"GATEKEEPER_SIGNING_KEY": "new-key, old-key"})
    assert settings.signing_keys == [b"new-key", b"old-key"]
    old = sign(b"old-key", "r", "d", "p", b"v")
    assert verify(settings.signing_keys, old, "r", "d", "p", b"v")


def test_keys_are_never_shown() -> None:
    settings = Settings.from_env({"GATEKEEPER_SIGNING_KEY": "s3cret",
                                  "GATEKEEPER_HASH_KEY": "h4sh"})
    assert "s3cret" not in repr(settings) and "h4sh" not in repr(settings)


def test_settings_from_environment_with_prefix_and_overrides() -> None:
    settings = Settings.from_env({"GATEKEEPER_TOPIC_PREFIX": "t1.", "GATEKEEPER_BATCH_SIZE": "50"},
                                 policy="default,us-reg-f")
    assert settings.topics["requests"] == "t1.contact.requests"
    assert settings.topics["review"] == "t1.contact.review"
    assert settings.batch_size == 50 and settings.policy == "default,us-reg-f"
