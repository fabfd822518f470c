"""RSA key pairs for simulated GitHub Apps (demo and tests); nothing else here touches keys.

The keys are throwaway: generated per run, never meant to sign anything outside the simulator.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def generate_key_pair(bits: int = 2048) -> tuple[str, str]:
    """A fresh (private PEM, public PEM) pair, as a GitHub App's downloaded key and what GitHub keeps."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public
