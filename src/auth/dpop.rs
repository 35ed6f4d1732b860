//! DPoP (RFC 9449): sender-constrained tokens (issue 10).
//!
//! When the authorization server offers DPoP (`dpop_signing_alg_values_supported`
//! with ES256), the bridge keeps a P-256 key pair per server, stored with the
//! server's credentials, and proves possession of it with a fresh signed
//! proof on every token request and every MCP request: `htm` and `htu` of
//! that request, `ath` bound to the access token for the MCP server, a new
//! `jti` each time, and the server's nonce once it has asked for one
//! (`use_dpop_nonce`, RFC 9449 §8, §9). A stolen token is useless without
//! the key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::secret::Secret;

/// The algorithm the bridge signs proofs with.
pub const ALG: &str = "ES256";

/// Why a stored key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the stored DPoP key is not usable: {0}")]
pub struct DpopKeyError(String);

/// A DPoP key pair, and the nonces servers have handed out.
pub struct DpopKey {
    pair: EcdsaKeyPair,
    pkcs8: Secret<Vec<u8>>,
    jwk: Value,
    thumbprint: String,
    /// Per origin: the last `DPoP-Nonce` that server sent.
    nonces: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DpopKey({}, [redacted])", self.thumbprint)
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl DpopKey {
    /// A new P-256 key pair.
    pub fn generate() -> DpopKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("the system random source works");
        DpopKey::from_pkcs8(pkcs8.as_ref()).expect("a key just made is valid")
    }

    /// The key stored earlier (PKCS#8 DER).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<DpopKey, DpopKeyError> {
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|e| DpopKeyError(e.to_string()))?;
        // The public key is the uncompressed point 0x04 || X || Y.
        let point = pair.public_key().as_ref();
        let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
        // RFC 7638: the required members, in lexical order, no spaces.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = b64(&Sha256::digest(canonical.as_bytes()));
        Ok(DpopKey {
            pair,
            pkcs8: Secret::new(pkcs8.to_vec()),
            jwk: json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            thumbprint,
            nonces: Mutex::new(HashMap::new()),
        })
    }

    /// The private key, for the credentials store.
    pub fn pkcs8(&self) -> &[u8] {
        self.pkcs8.expose()
    }

    /// The JWK thumbprint (RFC 7638) a bound token's `cnf.jkt` names.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Remembers the nonce a server sent (`DPoP-Nonce`), for its origin.
    pub fn remember_nonce(&self, url: &Url, nonce: &str) {
        let origin = url.origin().ascii_serialization();
        self.nonces
            .lock()
            .expect("nonce lock")
            .insert(origin, nonce.to_owned());
    }

    /// A fresh proof for one request: `method` to `url`, with `access_token`
    /// when the request presents one (the `ath` claim).
    pub fn proof(&self, method: &str, url: &Url, access_token: Option<&str>) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        // htu: the URL without query and fragment (RFC 9449 §4.2).
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut random = [0u8; 16];
        let _ = SystemRandom::new().fill(&mut random);
        let mut claims = json!({
            "jti": b64(&random),
            "htm": method,
            "htu": htu.as_str(),
            "iat": now,
        });
        if let Some(token) = access_token {
            claims["ath"] = b64(&Sha256::digest(token.as_bytes())).into();
        }
        let origin = url.origin().ascii_serialization();
        if let Some(nonce) = self.nonces.lock().expect("nonce lock").get(&origin) {
            claims["nonce"] = nonce.clone().into();
        }
        let header = json!({ "typ": "dpop+jwt", "alg": ALG, "jwk": self.jwk });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("ECDSA signing does not fail");
        format!("{input}.{}", b64(signature.as_ref()))
    }
}

/// The nonce a refusal asks for: a `DPoP-Nonce` header on a response that
/// says `use_dpop_nonce` (in `WWW-Authenticate`, or the error body of a
/// token endpoint).
pub fn nonce_asked(headers: &reqwest::header::HeaderMap, body: Option<&[u8]>) -> Option<String> {
    let nonce = headers.get("dpop-nonce")?.to_str().ok()?.to_owned();
    let in_challenge = headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("use_dpop_nonce"));
    let in_body = body.is_some_and(|b| {
        serde_json::from_slice::<Value>(b).is_ok_and(|v| v["error"] == "use_dpop_nonce")
    });
    (in_challenge || in_body).then_some(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(part: &str) -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// RFC 9449 §4.2: typ, alg, the public JWK (no private part); jti, htm,
    /// htu without query, iat, ath = base64url(SHA-256(token)); a valid
    /// ES256 signature by the key the JWK names.
    #[test]
    fn proofs_follow_rfc_9449() {
        let key = DpopKey::generate();
        let url = Url::parse("https://mcp.example/mcp?x=1#f").unwrap();
        let proof = key.proof("POST", &url, Some("token-abc"));
        let parts: Vec<&str> = proof.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert!(header["jwk"].get("d").is_none(), "no private key");
        let claims = decode(parts[1]);
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://mcp.example/mcp");
        assert_eq!(
            claims["ath"],
            b64(&Sha256::digest(b"token-abc")),
            "ath binds the token"
        );
        assert!(claims.get("nonce").is_none());
        let again = decode(key.proof("POST", &url, None).split('.').nth(1).unwrap());
        assert_ne!(claims["jti"], again["jti"], "a fresh jti per proof");

        // The signature verifies with the public key in the header.
        let jwk = &header["jwk"];
        let coordinate = |c: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(jwk[c].as_str().unwrap())
                .unwrap()
        };
        let mut point = vec![4u8];
        point.extend(coordinate("x"));
        point.extend(coordinate("y"));
        let public = signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point);
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap();
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the proof verifies");
    }

    /// RFC 9449 §7.1's example: the `ath` of its access token.
    #[test]
    fn ath_matches_the_rfc_example() {
        let key = DpopKey::generate();
        let url = Url::parse("https://resource.example.org/protectedresource").unwrap();
        let token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
        let proof = key.proof("GET", &url, Some(token));
        let claims = decode(proof.split('.').nth(1).unwrap());
        assert_eq!(claims["ath"], "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
    }

    /// A nonce is remembered per origin and sent from then on; a stored key
    /// comes back with the same thumbprint.
    #[test]
    fn nonces_and_stored_keys() {
        let key = DpopKey::generate();
        let url = Url::parse("https://as.example/token").unwrap();
        key.remember_nonce(&url, "n-1");
        let claims = decode(key.proof("POST", &url, None).split('.').nth(1).unwrap());
        assert_eq!(claims["nonce"], "n-1");
        let other = Url::parse("https://mcp.example/mcp").unwrap();
        let claims = decode(key.proof("POST", &other, None).split('.').nth(1).unwrap());
        assert!(claims.get("nonce").is_none(), "nonces are per server");
        let again = DpopKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(again.thumbprint(), key.thumbprint());
        assert_eq!(key.thumbprint().len(), 43);
    }
}
