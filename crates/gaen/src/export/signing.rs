//! Signing and verifying export files with ECDSA P-256 / SHA-256 over the whole `export.bin`,
//! DER-encoded signatures, and the PEM forms of the keys.

use super::{
    decode_signature_list, encode_signature_list, read_container, write_container, ExportSignature,
    KeyExport, SignatureInfo, SIGNATURE_ALGORITHM,
};
use crate::Error;
use base64ct::{Base64, Encoding};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rand_core::CryptoRngCore;
use std::fmt;

/// At most this many signatures per file (what phones accept, and enough for key rotation).
pub const MAX_SIGNATURES: usize = 10;

/// A private signing key with the signature info it signs under.
#[derive(Clone)]
pub struct ExportSigner {
    key: SigningKey,
    info: SignatureInfo,
}

impl fmt::Debug for ExportSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportSigner")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl ExportSigner {
    /// A new random key.
    pub fn generate(rng: &mut impl CryptoRngCore, info: SignatureInfo) -> Self {
        Self {
            key: SigningKey::random(rng),
            info,
        }
    }

    /// A key from PEM: PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`, as `openssl ecparam
    /// -genkey` writes).
    pub fn from_pem(pem: &str, info: SignatureInfo) -> Result<Self, Error> {
        let key = SigningKey::from_pkcs8_pem(pem)
            .or_else(|_| p256::SecretKey::from_sec1_pem(pem).map(SigningKey::from))
            .map_err(|_| {
                Error::Crypto("not a P-256 private key in PKCS#8 or SEC1 PEM form".into())
            })?;
        Ok(Self { key, info })
    }

    /// The signature info this key signs under.
    pub fn info(&self) -> &SignatureInfo {
        &self.info
    }

    /// The private key as PKCS#8 PEM. A secret: never log it.
    pub fn private_key_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .expect("a valid P-256 key always encodes")
    }

    /// The verifier for this key.
    pub fn verifier(&self) -> ExportVerifier {
        ExportVerifier {
            key: *self.key.verifying_key(),
        }
    }

    /// DER signature of `message` (deterministic, RFC 6979).
    pub fn sign_der(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign(message);
        signature.to_der().as_bytes().to_vec()
    }
}

/// A public key that export files are verified with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ExportVerifier {
    key: VerifyingKey,
}

impl fmt::Debug for ExportVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportVerifier").finish_non_exhaustive()
    }
}

impl ExportVerifier {
    /// A key from SubjectPublicKeyInfo PEM (`PUBLIC KEY`). Lines of any length are accepted,
    /// since real key files are not always wrapped at 64 characters.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let der = pem_body(pem, "PUBLIC KEY")?;
        Self::from_der(&der)
    }

    /// A key from SubjectPublicKeyInfo DER.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        VerifyingKey::from_public_key_der(der)
            .map(|key| Self { key })
            .map_err(|_| Error::Crypto("not a P-256 public key (SubjectPublicKeyInfo)".into()))
    }

    /// The key as SubjectPublicKeyInfo PEM.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .expect("a valid P-256 key always encodes")
    }

    /// Whether `signature_der` is a valid signature of `message` under this key.
    pub fn verify_der(&self, message: &[u8], signature_der: &[u8]) -> bool {
        Signature::from_der(signature_der)
            .map(|sig| self.key.verify(message, &sig).is_ok())
            .unwrap_or(false)
    }
}

/// The base64 body of the first PEM block with `label`, decoded.
fn pem_body(pem: &str, label: &str) -> Result<Vec<u8>, Error> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .ok_or_else(|| Error::Crypto(format!("no \"{begin}\" line found")))?
        + begin.len();
    let stop = pem[start..]
        .find(&end)
        .ok_or_else(|| Error::Crypto(format!("no \"{end}\" line found")))?
        + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Base64::decode_vec(&body)
        .map_err(|_| Error::Crypto(format!("the {label} PEM body is not base64")))
}

/// Which signature of a file verified with which of the given keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    pub signature_index: usize,
    pub key_index: usize,
}

/// An export file: its parsed contents, the exact `export.bin` bytes they came from, and its
/// signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedExport {
    pub export: KeyExport,
    pub export_bin: Vec<u8>,
    pub signatures: Vec<ExportSignature>,
}

impl SignedExport {
    /// Signs `export` with every signer (1..=10); `signature_infos` is set from the signers.
    pub fn sign(mut export: KeyExport, signers: &[ExportSigner]) -> Result<Self, Error> {
        if signers.is_empty() || signers.len() > MAX_SIGNATURES {
            return Err(Error::Crypto(format!(
                "an export file needs 1..={MAX_SIGNATURES} signing keys, got {}",
                signers.len()
            )));
        }
        export.signature_infos = signers.iter().map(|s| s.info.clone()).collect();
        let export_bin = export.to_export_bin();
        let signatures = signers
            .iter()
            .map(|s| ExportSignature {
                signature_info: s.info.clone(),
                batch_num: export.batch_num,
                batch_size: export.batch_size,
                signature: s.sign_der(&export_bin),
            })
            .collect();
        Ok(Self {
            export,
            export_bin,
            signatures,
        })
    }

    /// The zip file.
    pub fn to_zip(&self) -> Vec<u8> {
        write_container(&self.export_bin, &encode_signature_list(&self.signatures))
    }

    /// Parses a zip file (without verifying it: see [`Self::verify`]).
    pub fn from_zip(bytes: &[u8]) -> Result<Self, Error> {
        let (export_bin, export_sig) = read_container(bytes)?;
        let export = KeyExport::from_export_bin(&export_bin)?;
        let signatures = decode_signature_list(&export_sig)?;
        if signatures.is_empty() {
            return Err(Error::MissingField("export.sig signatures"));
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(Error::Crypto(format!(
                "export.sig holds {} signatures, more than {MAX_SIGNATURES}",
                signatures.len()
            )));
        }
        Ok(Self {
            export,
            export_bin,
            signatures,
        })
    }

    /// Finds a signature that verifies the exact `export.bin` bytes with one of `keys`.
    pub fn verify(&self, keys: &[ExportVerifier]) -> Result<Verified, Error> {
        for (signature_index, signature) in self.signatures.iter().enumerate() {
            if signature.signature_info.signature_algorithm != SIGNATURE_ALGORITHM {
                continue;
            }
            for (key_index, key) in keys.iter().enumerate() {
                if key.verify_der(&self.export_bin, &signature.signature) {
                    return Ok(Verified {
                        signature_index,
                        key_index,
                    });
                }
            }
        }
        Err(Error::SignatureMismatch {
            signatures: self.signatures.len(),
            keys: keys.len(),
        })
    }
}
