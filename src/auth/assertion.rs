//! `private_key_jwt` client authentication (RFC 7523 §2.2, G19): a short-lived
//! JWT signed with the client's key proves who the client is at the token
//! endpoint, with no shared secret.
//!
//! Keys are PEM (PKCS#8): ECDSA P-256 (ES256), RSA (RS256) or Ed25519
//! (EdDSA), signed with `ring`, which the TLS stack already brings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

/// The `client_assertion_type` of a JWT assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long an assertion is valid: short, so a leaked one is soon useless.
const LIFETIME_SECONDS: u64 = 120;

/// A client's signing key.
pub struct SigningKey {
    alg: &'static str,
    key: Key,
}

enum Key {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, [redacted])", self.alg)
    }
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "the client key is not usable: {0}; expected a PKCS#8 PEM key (ES256 P-256, RS256 RSA, or Ed25519)"
)]
pub struct KeyError(String);

impl SigningKey {
    /// Reads a PKCS#8 PEM key; the algorithm follows from the key type.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, KeyError> {
        let der = match PrivateKeyDer::from_pem_slice(pem) {
            Ok(PrivateKeyDer::Pkcs8(der)) => der,
            Ok(_) => {
                return Err(KeyError(
                    "it is not PKCS#8 (convert it with `openssl pkcs8 -topk8 -nocrypt`)".into(),
                ));
            }
            Err(e) => return Err(KeyError(e.to_string())),
        };
        let bytes = der.secret_pkcs8_der();
        let rng = SystemRandom::new();
        if let Ok(key) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, bytes, &rng)
        {
            return Ok(SigningKey {
                alg: "ES256",
                key: Key::Es256(key),
            });
        }
        if let Ok(key) = RsaKeyPair::from_pkcs8(bytes) {
            return Ok(SigningKey {
                alg: "RS256",
                key: Key::Rs256(key),
            });
        }
        if let Ok(key) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes) {
            return Ok(SigningKey {
                alg: "EdDSA",
                key: Key::EdDsa(key),
            });
        }
        Err(KeyError(
            "its type is not ES256 (P-256), RS256 or Ed25519".into(),
        ))
    }

    pub fn alg(&self) -> &'static str {
        self.alg
    }

    /// A client assertion for `client_id`, for the audiences given (the
    /// issuer and the token endpoint, RFC 7523 §3).
    pub fn assertion(&self, client_id: &str, audiences: &[&str]) -> Result<String, KeyError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let header = json!({ "alg": self.alg, "typ": "JWT" });
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audiences,
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
            "jti": jti(),
        });
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let signature = match &self.key {
            Key::Es256(key) => key
                .sign(&rng, signing_input.as_bytes())
                .map(|s| s.as_ref().to_vec()),
            Key::Rs256(key) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    signing_input.as_bytes(),
                    &mut out,
                )
                .map(|()| out)
            }
            Key::EdDsa(key) => Ok(key.sign(signing_input.as_bytes()).as_ref().to_vec()),
        }
        .map_err(|_| KeyError("signing failed".into()))?;
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }
}

/// A unique assertion id: random, plus a counter so two in one instant differ.
fn jti() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut random = [0u8; 16];
    let _ = SystemRandom::new().fill(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ES256 key made for this test (PKCS#8 PEM).
    fn es256_pem() -> String {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
        format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
    }

    #[test]
    fn assertions_are_signed_jwts_with_the_rfc7523_claims() {
        let pem = es256_pem();
        let key = SigningKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(key.alg(), "ES256");
        let jwt = key
            .assertion(
                "client-1",
                &["https://as.example", "https://as.example/token"],
            )
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap();
        assert_eq!(
            (claims["iss"].as_str(), claims["sub"].as_str()),
            (Some("client-1"), Some("client-1"))
        );
        assert_eq!(claims["aud"][1], "https://as.example/token");
        assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
        assert_eq!(
            decode(parts[2]).len(),
            64,
            "ES256 signatures are r||s, 64 bytes"
        );
        // The signature verifies with the key's public half.
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            PrivateKeyDer::from_pem_slice(pem.as_bytes())
                .map(|k| match k {
                    PrivateKeyDer::Pkcs8(d) => d.secret_pkcs8_der().to_vec(),
                    _ => vec![],
                })
                .unwrap()
                .as_slice(),
            &SystemRandom::new(),
        )
        .unwrap();
        use ring::signature::KeyPair as _;
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            pair.public_key().as_ref().to_vec(),
        );
        public
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &decode(parts[2]),
            )
            .expect("valid signature");
        let again = key.assertion("client-1", &["a"]).unwrap();
        let jti = |jwt: &str| {
            serde_json::from_slice::<serde_json::Value>(&decode(jwt.split('.').nth(1).unwrap()))
                .unwrap()["jti"]
                .clone()
        };
        assert_ne!(jti(&jwt), jti(&again), "a fresh jti each time");
    }

    #[test]
    fn unusable_keys_say_what_is_expected() {
        let err = SigningKey::from_pem(b"not a key").unwrap_err();
        assert!(err.to_string().contains("PKCS#8"), "{err}");
    }
}
