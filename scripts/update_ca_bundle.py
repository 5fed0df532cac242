"""Regenerate layers/shared/shared/certs/amazon-trust-services.pem from certifi.

RDS Proxy presents ACM certificates, which chain to the Amazon Trust Services
roots. Trusting only those five roots (instead of the ~150 of a full bundle)
keeps the verifying SSLContext cheap to build and narrows what we trust.
Run: .venv/bin/python scripts/update_ca_bundle.py
"""

import re
from pathlib import Path

import certifi

LABELS = (
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
)
TARGET = Path(__file__).resolve().parents[1] / "layers/shared/shared/certs/amazon-trust-services.pem"


def extract(bundle: str) -> str:
    blocks = re.findall(r"(# Issuer: .*?-----END CERTIFICATE-----\n)", bundle, re.S)
    picked = [b for b in blocks if re.search(r'# Label: "(.*?)"', b).group(1) in LABELS]  # type: ignore[union-attr]
    if len(picked) != len(LABELS):
        raise SystemExit(f"expected {len(LABELS)} roots, found {len(picked)}")
    return "".join(picked)


if __name__ == "__main__":
    TARGET.write_text(extract(Path(certifi.where()).read_text()))
    print(f"wrote {TARGET}")
