"""`make certs`: a private CA and the certificates of mutual TLS (compose/tls.yml).

Host only (the `cryptography` package is in the dev lock, not in the image).
One CA per cluster is the trust boundary: Dask never checks host names or
roles, so any certificate this CA signs may act as scheduler, worker or client
(README, "Security"). Hence the CA's private key stays here, 0600, and is
never mounted into a container.

Idempotent: it keeps what is valid for RENEW_WITHIN more days and remakes the
rest; a new CA remakes every leaf. Layout (build/ is git-ignored):

    build/certs/            0700  host users other than its owner cannot enter
      ca.pem                0644  trusted by everyone
      ca-key.pem            0600  never leaves this folder
      scheduler.pem, worker.pem    0644  mounted (Compose file secrets)
      scheduler-key.pem, worker-key.pem   0644: Compose without Swarm ignores a
                            secret's uid/mode, and container uid 1000 must read them
      client.pem            0644  the host client's
      client-key.pem        0600  host only
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dasklab.settings import CERTS, load

CA_DAYS = 365
LEAF_DAYS = 90
RENEW_WITHIN = dt.timedelta(days=7)


@dataclass(frozen=True)
class Role:
    name: str               # file stem: <name>.pem, <name>-key.pem
    dns: tuple[str, ...]    # subject alternative names (informational: Dask checks none)
    ips: tuple[str, ...] = ()
    key_mode: int = 0o644   # 0644 when a container must read it through a bind mount


# Scheduler and worker certificates need both usages: each side of a Dask
# comm may be the one that connects (a worker dials its peers and the
# scheduler; the scheduler dials nannies). Without clientAuth the handshake
# fails with "unsuitable certificate purpose".
ROLES = (
    Role("scheduler", ("scheduler", "localhost"), ("127.0.0.1",)),
    Role("worker", tuple(f"worker-{i}" for i in range(1, 10))),
    Role("client", ("dasklab-client",), key_mode=0o600),
)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dasklab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _builder(subject: x509.Name, issuer: x509.Name, public_key, days: int):
    now = _now()
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False))


def make_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(_name(cn), _name(cn), key.public_key(), CA_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(role: Role, ca_key, ca_cert: x509.Certificate):
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(d) for d in role.dns] + \
        [x509.IPAddress(ipaddress.ip_address(i)) for i in role.ips]
    cert = (_builder(_name(f"dasklab-{role.name}"), ca_cert.subject, key.public_key(), LEAF_DAYS)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), False)
            .add_extension(x509.SubjectAlternativeName(sans), False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _write(folder: Path, stem: str, key, cert: x509.Certificate, key_mode: int) -> None:
    key_path = folder / f"{stem}-key.pem"
    key_path.unlink(missing_ok=True)
    key_path.touch(mode=key_mode)  # the right mode before the key is in it
    key_path.chmod(key_mode)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path = folder / f"{stem}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_path.chmod(0o644)


def _read(folder: Path, stem: str):
    try:
        cert = x509.load_pem_x509_certificate((folder / f"{stem}.pem").read_bytes())
        key = serialization.load_pem_private_key((folder / f"{stem}-key.pem").read_bytes(), None)
    except (OSError, ValueError):
        return None, None
    return key, cert


def _fresh(cert: x509.Certificate | None) -> bool:
    return cert is not None and cert.not_valid_after_utc - _now() > RENEW_WITHIN


def _signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def ensure(folder: Path = CERTS, roles: tuple[Role, ...] = ROLES, ca_name: str = "dasklab-ca",
           force: bool = False) -> list[str]:
    """Make what is missing, near expiry or signed by another CA; returns one
    line per file set ("made worker ..." / "kept worker ...")."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    said = []
    ca_key, ca_cert = _read(folder, "ca")
    if force or not _fresh(ca_cert):
        ca_key, ca_cert = make_ca(ca_name)
        _write(folder, "ca", ca_key, ca_cert, 0o600)
        said.append(f"made ca, valid until {ca_cert.not_valid_after_utc:%Y-%m-%d}")
    else:
        said.append(f"kept ca, valid until {ca_cert.not_valid_after_utc:%Y-%m-%d}")
    for role in roles:
        _, cert = _read(folder, role.name)
        if not force and _fresh(cert) and _signed_by(cert, ca_cert):
            said.append(f"kept {role.name}, valid until {cert.not_valid_after_utc:%Y-%m-%d}")
            continue
        key, cert = make_leaf(role, ca_key, ca_cert)
        _write(folder, role.name, key, cert, role.key_mode)
        said.append(f"made {role.name}, valid until {cert.not_valid_after_utc:%Y-%m-%d}")
    return said


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make certs", description=__doc__.splitlines()[0])
    p.add_argument("--force", action="store_true", help="remake the CA and every certificate")
    p.add_argument("--if-tls", action="store_true", help="do nothing unless TLS=on (make up)")
    args = p.parse_args(argv)
    if args.if_tls and load().get("TLS", "off") != "on":
        return 0
    for line in ensure(force=args.force):
        print(f"[certs] {CERTS.relative_to(CERTS.parents[1])}: {line}", file=sys.stderr)
    if args.force:
        print("[certs] a running TLS cluster still holds the old ones: `make restart`",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
