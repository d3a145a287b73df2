//! TLS for outbound requests: rustls with the Mozilla web roots (webpki-roots), plus an
//! operator's CA bundle for internal services (`ca_file`).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// A client configuration trusting the web roots and the certificates of `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("network.ca_file: reading {}", path.display()))?
        {
            let cert = cert.with_context(|| format!("network.ca_file: {}", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("network.ca_file: {}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            anyhow::bail!(
                "network.ca_file: {} holds no PEM certificate",
                path.display()
            );
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The configuration without extra roots, built once.
pub fn default_client_config() -> anyhow::Result<Arc<rustls::ClientConfig>> {
    static DEFAULT: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = DEFAULT.get() {
        return Ok(config.clone());
    }
    let config = Arc::new(client_config(None)?);
    Ok(DEFAULT.get_or_init(|| config).clone())
}
