"""Unit tests: `make certs` (no Docker). What mutual TLS needs of the files:
a CA, leaves it signed with both TLS usages, modes a container can read but
other host users cannot reach, idempotence and renewal."""

import datetime as dt
import stat

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from scenarios.admin import certs


def _cert(folder, stem):
    return x509.load_pem_x509_certificate((folder / f"{stem}.pem").read_bytes())


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_makes_a_ca_and_leaves_it_signed_with_both_usages(tmp_path):
    said = certs.ensure(tmp_path)
    assert said[0].startswith("made ca") and len(said) == 1 + len(certs.ROLES)
    ca = _cert(tmp_path, "ca")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for role in certs.ROLES:
        leaf = _cert(tmp_path, role.name)
        leaf.verify_directly_issued_by(ca)
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_modes_keep_the_ca_and_client_keys_private(tmp_path):
    folder = tmp_path / "certs"
    certs.ensure(folder)
    assert _mode(folder) == 0o700
    assert _mode(folder / "ca-key.pem") == 0o600 and _mode(folder / "client-key.pem") == 0o600
    # Mounted into containers whose uid is not the host user's: readable by all,
    # reachable only through the 0700 folder.
    assert _mode(folder / "worker-key.pem") == 0o644 and _mode(folder / "scheduler-key.pem") == 0o644


def test_second_run_keeps_everything(tmp_path):
    certs.ensure(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert all(line.startswith("kept") for line in certs.ensure(tmp_path))
    assert before == {p.name: p.read_bytes() for p in tmp_path.iterdir()}


def test_near_expiry_leaves_are_remade_and_a_new_ca_remakes_all(tmp_path, monkeypatch):
    monkeypatch.setattr(certs, "LEAF_DAYS", 3)  # inside RENEW_WITHIN (7 days)
    certs.ensure(tmp_path)
    monkeypatch.undo()
    old = _cert(tmp_path, "worker")
    said = certs.ensure(tmp_path)
    assert said[0].startswith("kept ca") and all(s.startswith("made") for s in said[1:])
    assert _cert(tmp_path, "worker").not_valid_after_utc - old.not_valid_after_utc > \
        dt.timedelta(days=80)
    # A new CA: every leaf the old one signed is remade.
    certs.ensure(tmp_path, force=True)
    ca = _cert(tmp_path, "ca")
    for role in certs.ROLES:
        _cert(tmp_path, role.name).verify_directly_issued_by(ca)
