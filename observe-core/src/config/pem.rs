//! PEM files for TLS (feature `tls`): certificates and a private key, read with a
//! bound and checked when the configuration is resolved; the exporter builds its
//! rustls configuration from the same functions.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::read_bounded;

/// The most bytes a certificate or key file may have: far above any real chain.
pub(crate) const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The rustls crypto provider observe uses (ring).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file: at least one, each well formed.
pub(crate) fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_bounded(path, MAX_PEM_BYTES)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block in it".into());
    }
    Ok(certs)
}

/// The private key of a PEM file. Errors never quote the file.
pub(crate) fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_bounded(path, MAX_PEM_BYTES)?;
    parse_key(&pem)
}

pub(crate) fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            "no PRIVATE KEY block (PKCS#8, RSA or EC) in it".to_owned()
        }
        _ => "not a PEM private key".to_owned(),
    })?;
    // The key must be one the provider can sign with.
    provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| format!("a key rustls cannot use: {e}"))?;
    Ok(key)
}
