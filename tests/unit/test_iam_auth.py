"""Our local SigV4 token equals botocore's, byte for byte."""

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.iam_auth import generate_auth_token


@pytest.mark.parametrize("session_token", [None, "FwoGZXIvYXdzEJr//////////wEaDM+test/token=="])
def test_token_matches_botocore(session_token):
    import botocore.session

    session = botocore.session.get_session()
    client = session.create_client(
        "rds",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=session_token,
    )
    expected = client.generate_db_auth_token("proxy.example.eu-west-1.rds.amazonaws.com", 5432, "blog_app")
    # sign at the same instant botocore did
    stamp = parse_qs(urlsplit("https://" + expected).query)["X-Amz-Date"][0]
    now = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours = generate_auth_token(
        host="proxy.example.eu-west-1.rds.amazonaws.com",
        port=5432,
        user="blog_app",
        region="eu-west-1",
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token=session_token,
        now=now,
    )
    assert ours == expected


def test_importing_the_signer_does_not_import_boto3():
    import subprocess
    import sys

    code = "import shared.iam_auth, sys; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": "layers/shared"}
    ).stdout.strip()
    assert out == "False False"
