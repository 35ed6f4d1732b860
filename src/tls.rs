//! The TLS trust of every connection: the platform's trust store, loaded
//! at the first certificate to verify, and the certificates a user gives
//! (`--ca-file`, `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`), trusted as the
//! user meant them (issue 16).
//!
//! Each certificate is added to the platform's trust store as an anchor: a
//! company CA signs the server's certificate, and the chain is verified as
//! usual (names, dates, signatures). A server's own self-signed certificate
//! cannot be an anchor for itself in WebPKI (`CaUsedAsEndEntity` for the
//! default `openssl req -x509`, `BadSignature` for a CA:FALSE one), yet the
//! user who hands it over means "trust this server"; so when the chain does
//! not verify and the server presents exactly a certificate the user gave,
//! byte for byte, it is accepted (pinned), as Node's `NODE_EXTRA_CA_CERTS`
//! and curl's `--cacert` accept it. The handshake's signature is still
//! checked against that certificate's key, so only the holder of its
//! private key can use it.

use std::sync::{Arc, OnceLock};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Why the user's certificates cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot use the CA file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificates of a PEM file.
pub fn pem_certificates(
    path: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let failed = |reason: String| TlsSetupError::File {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(format!("not a PEM file ({e})")))?;
    if certs.is_empty() {
        return Err(failed("it holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// A client configuration that trusts the platform's roots plus `given`
/// (as anchors), and `given` themselves when a server presents one of them.
///
/// The trust store is loaded at the first certificate to verify, not here:
/// a bridge to an `http://` server never reads it, and one to an
/// `https://` server pays for it once (issue 24). Loading it eagerly cost
/// every start ~2 ms with `SSL_CERT_DIR` set (each file of the directory is
/// read), and under Wine 8 it failed every start whenever a CA was given:
/// the verifier hands Windows the Windows 8 size of
/// `CERT_CHAIN_ENGINE_CONFIG`, which Wine's crypt32 refuses with
/// `E_INVALIDARG`; real Windows 8 and later take it.
pub fn client_config(
    given: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Trust {
        provider: Arc::clone(&provider),
        given,
        platform: OnceLock::new(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // As reqwest sets it for its own configurations: HTTP/2 where offered.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The platform's verifier, loaded when first needed, and the user's own
/// certificates accepted as they are.
#[derive(Debug)]
struct Trust {
    provider: Arc<rustls::crypto::CryptoProvider>,
    given: Vec<CertificateDer<'static>>,
    /// The platform's verifier, or why it could not be set up.
    platform: OnceLock<Result<rustls_platform_verifier::Verifier, String>>,
}

impl Trust {
    fn platform(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        let loaded = self.platform.get_or_init(|| {
            let provider = Arc::clone(&self.provider);
            let verifier = if self.given.is_empty() {
                rustls_platform_verifier::Verifier::new(provider)
            } else {
                rustls_platform_verifier::Verifier::new_with_extra_roots(
                    self.given.iter().cloned(),
                    provider,
                )
            };
            verifier.map_err(|e| e.to_string())
        });
        loaded.as_ref().map_err(|reason| {
            rustls::Error::General(format!(
                "cannot load this machine's trusted certificates: {reason}"
            ))
        })
    }

    fn is_given(&self, certificate: &CertificateDer<'_>) -> bool {
        self.given
            .iter()
            .any(|given| given.as_ref() == certificate.as_ref())
    }
}

impl ServerCertVerifier for Trust {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.platform().and_then(|platform| {
            platform.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        });
        match verified {
            Ok(verified) => Ok(verified),
            Err(_) if self.is_given(end_entity) => {
                tracing::debug!(
                    "the server presented a certificate you gave; trusting it as given"
                );
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    // The handshake's signatures are checked with the crypto provider's
    // algorithms, as the platform verifier itself checks them, so the
    // trust store is not needed for them.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS failure in words a person can act on, when it is a common one;
/// `reason` is what the HTTP client said.
pub fn explain(reason: &str) -> Option<&'static str> {
    let has = |needle: &str| reason.contains(needle);
    if has("CaUsedAsEndEntity") || has("SelfSigned") {
        Some(
            "The server's certificate is self-signed: if you trust it, pass it with --ca-file \
             (or NODE_EXTRA_CA_CERTS)",
        )
    } else if has("UnknownIssuer") {
        Some(
            "The server's certificate is signed by a certificate authority this machine does not trust \
             (a company CA?): pass that CA's certificate with --ca-file",
        )
    } else if has("NotValidForName") || has("NotValidForNameContext") {
        Some("The server's certificate is for another name: check the URL's host name")
    } else if has("Expired") {
        Some("The server's certificate has expired (or this machine's clock is wrong)")
    } else if has("InvalidContentType")
        || has("CorruptMessage")
        || has("received corrupt message")
        || has("InvalidMessage")
    {
        Some("The server speaks plain HTTP on this port, not TLS: use http:// in the URL")
    } else {
        None
    }
}
