"""The RDS CA bundle the migrate function verifies the DB instance with (verify-full).

The template pins the instance's CA (`CACertificateIdentifier`); the committed bundle must hold that
CA's root for every Region the stack can be deployed to, none of it expired, and the build must take
it from the repository (no download during `sam build`).
"""

from __future__ import annotations

import re
import ssl
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.conftest import ROOT

BUNDLE = ROOT / "functions/migrate/rds-ca-bundle.pem"
# CACertificateIdentifier -> the words its roots carry in their subject (RDS User Guide,
# "Certificate authorities": rds-ca-rsa2048-g1 is "Amazon RDS <region> Root CA RSA2048 G1").
CA_SUBJECT = {
    "rds-ca-rsa2048-g1": "Root CA RSA2048 G1",
    "rds-ca-rsa4096-g1": "Root CA RSA4096 G1",
    "rds-ca-ecc384-g1": "Root CA ECC384 G1",
}
# The Regions RDS Proxy and the rest of the stack are commonly deployed to; a Region missing from
# the bundle would fail its first migration.
REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-northeast-3")


def _certs() -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(BUNDLE.read_bytes())


def test_the_bundle_loads_into_a_verifying_context() -> None:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(BUNDLE))
    assert ctx.cert_store_stats()["x509_ca"] == len(_certs()) > 50


@pytest.mark.parametrize("region", REGIONS)
def test_the_templates_ca_has_a_root_for_the_region(region: str) -> None:
    template = (ROOT / "template.yaml").read_text()
    identifiers = set(re.findall(r"CACertificateIdentifier:\s*(\S+)", template))
    assert identifiers, "the template pins no CACertificateIdentifier"
    names = {c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in _certs()}
    for identifier in identifiers:
        wanted = f"Amazon RDS {region} {CA_SUBJECT[identifier]}"
        assert wanted in names, f"{BUNDLE.name} has no {wanted!r}: run scripts/update_rds_ca_bundle.py"


def test_no_certificate_in_the_bundle_has_expired() -> None:
    now = datetime.now(UTC)
    expired = [c.subject.rfc4514_string() for c in _certs() if c.not_valid_after_utc < now]
    assert not expired, f"expired CAs in {BUNDLE.name}: {expired}"


def test_builds_download_nothing() -> None:
    """Every build recipe takes its inputs from the repository or a package registry (pip): a
    download from anywhere else fails on machines that reach only the registries."""
    recipes = [ROOT / "functions/migrate/Makefile", ROOT / "layers/shared/Makefile"]
    for recipe in recipes:
        text = recipe.read_text()
        commands = [line for line in text.splitlines() if line.startswith("\t")]
        fetching = [c for c in commands if re.search(r"\b(curl|wget)\b|https?://", c)]
        assert not fetching, f"{recipe.relative_to(ROOT)} downloads during the build: {fetching}"
