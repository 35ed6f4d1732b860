"""A FastMCP server over HTTPS with a certificate from a private CA, like a
company's internal server: for the --ca-file tests.

Usage: tls_server.py PORT DIR [given]

Writes DIR/ca.pem (the CA to trust) and serves https://localhost:PORT/mcp
with a certificate that CA signed (for localhost and 127.0.0.1). With
`given`, serves DIR/server.pem and DIR/server.key as they are (a
self-signed certificate made with openssl, say).
"""

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fastmcp import FastMCP

port = int(sys.argv[1])
out = sys.argv[2]
given = len(sys.argv) > 3 and sys.argv[3] == "given"
now = datetime.datetime.now(datetime.timezone.utc)
valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1))


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


ca_key = ec.generate_private_key(ec.SECP256R1())
ca_cert = (
    x509.CertificateBuilder()
    .subject_name(name("tether test corporate CA"))
    .issuer_name(name("tether test corporate CA"))
    .public_key(ca_key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(valid[0])
    .not_valid_after(valid[1])
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .add_extension(
        x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
    )
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
    .sign(ca_key, hashes.SHA256())
)
key = ec.generate_private_key(ec.SECP256R1())
cert = (
    x509.CertificateBuilder()
    .subject_name(name("localhost"))
    .issuer_name(ca_cert.subject)
    .public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(valid[0])
    .not_valid_after(valid[1])
    .add_extension(
        x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        ),
        critical=False,
    )
    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    .add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
    )
    .sign(ca_key, hashes.SHA256())
)
pem = serialization.Encoding.PEM
if not given:
    with open(os.path.join(out, "ca.pem"), "wb") as f:
        f.write(ca_cert.public_bytes(pem))
    with open(os.path.join(out, "server.pem"), "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(os.path.join(out, "server.key"), "wb") as f:
        f.write(
            key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

mcp = FastMCP("tether-tls-test")


@mcp.tool
def echo(message: str) -> str:
    """Echoes its message."""
    return message


mcp.run(
    transport="http",
    host="127.0.0.1",
    port=port,
    show_banner=False,
    uvicorn_config={
        "ssl_certfile": os.path.join(out, "server.pem"),
        "ssl_keyfile": os.path.join(out, "server.key"),
    },
)
