"""Content credentials (C2PA, with `c2pa-python`): a signed manifest embedded in every delivered PNG,
JPEG and WebP, saying what made the image, and `brief verify`, which reads it back.

What a manifest claims: the digital source type (`trainedAlgorithmicMedia`, or
`compositeWithTrainedAlgorithmicMedia` when real assets are placed), the generator (brief and its
version), the backend and model (id, revision, weight digest from the lock), the variant and the
output with their node keys, and the placed assets as ingredients with their sha256. The pixels are
not touched (a PNG's manifest is a chunk of its own, a JPEG's an APP11 segment): flattening layers
still gives the delivered pixels.

Signing needs a certificate chain and its private key (PEM), from `--sign-cert`/`--sign-key` or
`[c2pa] cert`, `key` (and `trust`, the root to verify against) in brief.toml. `--sign test` makes a
throwaway ES256 chain ("brief test signer", not for delivery) in the user cache folder, readable by
this user only, once: what the tests and the example use; no key is ever committed. Everything is
offline: no timestamp authority, no fetch.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..context import OpError

SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
TEST_CHAIN = "c2pa-test-chain"


class CredentialsError(OpError):
    """Signing cannot go ahead: a missing, unreadable or unusable certificate or key (one clear sentence)."""


@dataclass(frozen=True)
class Credentials:
    cert: bytes  # the signing certificate, then its chain, PEM
    key: bytes  # its private key, PEM
    trust: bytes | None = None  # the root a reader should trust, PEM
    alg: str = "es256"
    trust_file: str | None = None  # where that root is (the manifest says, for `brief verify`)

    @property
    def fingerprint(self) -> str:
        """Part of what a delivered file claims: a new certificate means new credentials."""
        return hashlib.sha256(self.cert).hexdigest()[:16]


def test_chain(folder: Path) -> Credentials:
    """A throwaway root and ES256 signing certificate, made once in `folder` (mode 0700, files
    0600). Made whole in a folder of its own and renamed into place, so processes racing on the
    first use all end up with one chain whose key matches its certificate."""
    names = ("chain.pem", "key.pem", "root.pem")
    if not all((folder / n).is_file() for n in names):
        folder.parent.mkdir(parents=True, exist_ok=True)
        import tempfile

        fresh = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))  # mode 0700
        for name, data in zip(names, _make_chain()):
            fd = os.open(fresh / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        try:
            os.rename(fresh, folder)  # atomic; refused when another process got there first
        except OSError:
            for name in names:
                (fresh / name).unlink(missing_ok=True)
            fresh.rmdir()
    cert, key, root = ((folder / n).read_bytes() for n in names)
    return Credentials(cert, key, root, trust_file=str(folder / "root.pem"))


def _make_chain() -> tuple[bytes, bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "brief test credentials (not for delivery)")])

    def usage(**on: bool) -> x509.KeyUsage:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        return x509.KeyUsage(**{**flags, **on})

    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    base = x509.CertificateBuilder().not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
    root = (base.subject_name(name("brief test root")).issuer_name(name("brief test root"))
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
            .sign(root_key, hashes.SHA256()))
    leaf = (base.subject_name(name("brief test signer")).issuer_name(name("brief test root"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (leaf.public_bytes(pem) + root.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            root.public_bytes(pem))


def from_files(cert: Path, key: Path, trust: Path | None = None) -> Credentials:
    try:
        return Credentials(cert.read_bytes(), key.read_bytes(), trust.read_bytes() if trust else None,
                           trust_file=str(trust.resolve()) if trust else None)
    except OSError as exc:
        raise CredentialsError(f"cannot read {exc.filename}: {exc.strerror}") from None


def claims(variant, output: str, node: str, assets: list[tuple[str, str]], version: str) -> dict:
    """What a delivered image's manifest says (plain data: it keys the file, with the pixels)."""
    backend = dict(variant.backend)
    return {"variant": variant.name, "output": output, "node": node,  # not the export's key: it changes
            "generator": version, "backend": backend,                  # with any other output or rule
            "source": "compositeWithTrainedAlgorithmicMedia" if assets else "trainedAlgorithmicMedia",
            "assets": [{"file": f, "sha256": h} for f, h in assets]}


def sign(data: bytes, fmt: str, title: str, said: dict, creds: Credentials) -> bytes:
    """`data` (an encoded image) with a signed C2PA manifest of `said` embedded."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "brief", "version": said["generator"]}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": SOURCE_TYPE + said["source"],
                 "softwareAgent": {"name": "brief", "version": said["generator"]}}]}},
            {"label": "org.brief.build",
             "data": {k: said[k] for k in ("variant", "output", "node", "backend")}},
        ],
    }
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(creds.alg.encode(), creds.cert, creds.key, None))
        # no thumbnail in the manifest: it would weigh more than a small delivered image (and its size cap)
        context = c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
        builder = c2pa.Builder(json.dumps(manifest), context=context)
        for asset in said["assets"]:
            builder.add_ingredient(json.dumps({"title": os.path.basename(asset["file"]), "relationship": "componentOf",
                                               "metadata": {"sha256": asset["sha256"]}}),
                                   "application/octet-stream", io.BytesIO(b""))
        out = io.BytesIO()
        builder.sign(signer, MIME[fmt], io.BytesIO(data), out)
    except (c2pa.C2paError, ValueError) as exc:
        raise CredentialsError(f"signing failed ({exc}): is the certificate chain PEM, its key the matching "
                               "unencrypted PEM key, and both ES256 (P-256)?") from None
    return out.getvalue()


def read(path: Path, trust: bytes | None = None) -> dict:
    """What a file's content credentials say, and whether they hold: {"state": "trusted" | "valid" |
    "invalid" | "none", "problems": [...], "signer", "generator", "source", "build", "ingredients"}."""
    import c2pa

    fmt = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}.get(path.suffix.lower())
    if fmt is None:
        return {"state": "none", "problems": [f"{path.suffix} files carry no credentials brief writes"]}
    try:
        if trust:
            context = c2pa.Context(c2pa.Settings.from_dict({"trust": {"trust_anchors": trust.decode()}}))
            reader = c2pa.Reader(MIME[fmt], io.BytesIO(path.read_bytes()), context=context)
        else:
            reader = c2pa.Reader(MIME[fmt], io.BytesIO(path.read_bytes()))
        store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        return {"state": "none", "problems": [str(exc)]}
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    assertions = {a["label"]: a.get("data", {}) for a in active.get("assertions", [])}
    actions = assertions.get("c2pa.actions.v2", assertions.get("c2pa.actions", {})).get("actions", [{}])
    problems = [s["code"] for s in store.get("validation_status", [])]
    state = str(store.get("validation_state", "")).lower()
    return {"state": state, "problems": [p for p in problems if p != "signingCredential.untrusted"],
            "untrusted": "signingCredential.untrusted" in problems,
            "signer": active.get("signature_info", {}),
            "generator": (active.get("claim_generator_info") or [{}])[0],
            "source": str(actions[0].get("digitalSourceType", "")).removeprefix(SOURCE_TYPE),
            "build": assertions.get("org.brief.build", {}),
            "ingredients": [{"title": i.get("title"), **(i.get("metadata") or {})}
                            for i in active.get("ingredients", [])]}


def configured(root: Path, sign: str | None, cert: Path | None, key: Path | None,
               trust: Path | None, cache_dir: Path) -> Credentials | None:
    """The credentials a build signs with: `--sign test` (the throwaway chain), else `--sign-cert` and
    `--sign-key`, else `[c2pa] cert` and `key` (or `sign = "test"`) of the project's brief.toml (paths
    relative to it); None when nothing is configured or `--sign off` (then nothing is signed)."""
    if sign == "off":
        return None
    if sign == "test":
        if cert or key:
            raise CredentialsError("--sign test signs with the throwaway test chain: leave out --sign-cert and "
                                   "--sign-key, or --sign test")
        return test_chain(cache_dir / TEST_CHAIN)
    if cert or key:
        if not (cert and key):
            raise CredentialsError("--sign-cert and --sign-key go together: the certificate chain and its key")
        return usable(from_files(cert, key, trust))
    from ..settings import SettingsError, table

    toml = root / "brief.toml"
    try:
        section = table(root, "c2pa")
    except SettingsError as exc:
        raise CredentialsError(str(exc)) from None
    if section is None or section.get("sign") is False:
        return None
    if section.get("sign") == "test":
        return test_chain(cache_dir / TEST_CHAIN)
    paths = {k: section.get(k) for k in ("cert", "key", "trust")}
    if not (isinstance(paths["cert"], str) and isinstance(paths["key"], str)):
        raise CredentialsError(f"[c2pa] in {toml} needs cert and key (PEM files), or sign = \"test\"")
    return usable(from_files(root / paths["cert"], root / paths["key"],
                             root / paths["trust"] if isinstance(paths["trust"], str) else None))


def usable(creds: Credentials) -> Credentials:
    """`creds`, once they have signed a one-pixel image: a certificate that is not PEM, a key that
    does not match it, an expired or unsupported one is found before anything is rendered."""
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
           b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
           b"\x00\x00\x00\x00IEND\xaeB`\x82")
    sign(png, "png", "check.png", {"generator": "check", "source": "trainedAlgorithmicMedia", "variant": "",
                                   "output": "", "node": "", "backend": {}, "assets": []}, creds)
    return creds


def project_trust(image: Path) -> Path | None:
    """The root `brief verify` checks an image against when none is given: the one its export
    signed against, as the variant folder's manifest.json records it."""
    try:
        said = json.loads((image.parent / "manifest.json").read_text(encoding="utf-8")).get("credentials", {})
    except (OSError, ValueError, AttributeError):
        return None
    trust = said.get("trust") if isinstance(said, dict) else None
    return Path(trust) if isinstance(trust, str) else None
