import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from portal.crypto import SecretError, decrypt, encrypt
from tests.factories import make_organisation


def test_mollie_key_is_encrypted_at_rest(db_session):
    organisation = make_organisation(db_session, mollie_api_key="test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM")
    db_session.flush()
    raw = db_session.execute(
        text("SELECT mollie_api_key FROM organisations WHERE id = :id"), {"id": organisation.id}
    ).scalar_one()
    assert "dHar4XY7" not in raw
    db_session.expire(organisation)
    assert organisation.mollie_api_key == "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"


def test_keys_rotate_and_a_missing_key_is_a_clear_error():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = encrypt("secret", old)
    assert decrypt(token, f"{new},{old}") == "secret"  # new key first, old still decrypts
    assert decrypt(encrypt("secret", f"{new},{old}"), new) == "secret"
    with pytest.raises(SecretError, match="ENCRYPTION_KEYS"):
        decrypt(token, new)
