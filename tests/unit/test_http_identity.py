import pytest

from shared.http import etag_of, identity_from_event, parse_groups


@pytest.mark.parametrize(
    ("raw", "groups"),
    [
        ("[admin editors]", {"admin", "editors"}),
        ("[admin]", {"admin"}),
        (["admin"], {"admin"}),
        # names are split on whitespace only: punctuation inside a group name grants nothing
        ("[editors,admin]", {"editors,admin"}),
        ('["admin"]', {'"admin"'}),
        ('[readers "admin"]', {"readers", '"admin"'}),
        ("admin editors", {"admin", "editors"}),
        ("[]", set()),
        (None, set()),
    ],
)
def test_groups_as_api_gateway_sends_them(raw, groups):
    assert parse_groups(raw) == groups


def test_identity_only_from_authorizer_claims():
    sub = "0D9F5B1E-3C1A-4F6E-9A7B-2C8D4E6F8A0B"
    event = {"requestContext": {"authorizer": {"jwt": {"claims": {"sub": sub, "cognito:groups": "[admin]"}}}}}
    who = identity_from_event(event)
    assert who is not None and who.sub == sub.lower() and who.is_admin
    assert who.can_act_for("someone-else")
    assert identity_from_event({"requestContext": {}, "headers": {"authorization": "Bearer x"}}) is None
    assert identity_from_event({"requestContext": {"authorizer": {"jwt": {"claims": {"sub": "not-a-uuid"}}}}}) is None


def test_etag_is_quoted_and_stable():
    assert etag_of("a", 1) == etag_of("a", 1) != etag_of("a", 2)
    assert etag_of("a", 1).startswith('"') and etag_of("a", 1).endswith('"')


SUB = "0d9f5b1e-3c1a-4f6e-9a7b-2c8d4e6f8a0b"


def _event(claims: dict) -> dict:
    return {"requestContext": {"authorizer": {"jwt": {"claims": {"sub": SUB, **claims}}}}}


@pytest.mark.parametrize(
    ("claims", "token_use", "email"),
    [
        ({"token_use": "id", "aud": "c", "email": "a@example.com", "email_verified": "true"}, "id", "a@example.com"),
        ({"token_use": "id", "aud": "c", "email": "a@example.com", "email_verified": "false"}, "id", None),
        ({"token_use": "id", "aud": "c", "email": "a@example.com"}, "id", None),
        ({"token_use": "id", "aud": "c", "email": "a@example.com", "email_verified": True}, "id", "a@example.com"),
        ({"token_use": "access", "client_id": "c", "scope": "openid"}, "access", None),
        # an access token never binds an address, even with e-mail claims added to it
        ({"token_use": "access", "client_id": "c", "email": "a@example.com", "email_verified": "true"}, "access", None),
        # another issuer: RFC 9068 access tokens name client_id; ID tokens an aud
        ({"client_id": "c", "email": "a@example.com", "email_verified": "true"}, "access", None),
        ({"aud": "c", "email": "a@example.com", "email_verified": "true"}, "id", "a@example.com"),
        # RFC 9068 access tokens carry aud too: client_id or scope makes them access tokens
        ({"aud": "api", "client_id": "c", "email": "a@example.com", "email_verified": "true"}, "access", None),
        ({"aud": "api", "scope": "read", "email": "a@example.com", "email_verified": "true"}, "access", None),
        ({"token_use": "refresh", "aud": "c", "email": "a@example.com", "email_verified": "true"}, "access", None),
        # claims that cannot be an address bind nothing
        ({"token_use": "id", "email": "not-an-email", "email_verified": "true"}, "id", None),
        ({"token_use": "id", "email": "c@example.com\nBcc: x@y.z", "email_verified": "true"}, "id", None),
        ({"token_use": "id", "email": "a\ud800@example.com", "email_verified": "true"}, "id", None),
        ({"token_use": "id", "email": "a" * 250 + "@x.jp", "email_verified": "true"}, "id", None),
    ],
)
def test_only_a_verified_id_token_email_is_the_identity_email(claims, token_use, email):
    who = identity_from_event(_event(claims))
    assert who is not None
    assert (who.token_use, who.email) == (token_use, email)
