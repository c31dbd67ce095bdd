//! TLS for OTLP export: one rustls configuration for both transports.
//!
//! An `https://` destination is verified against the platform's trust store
//! (through `rustls-platform-verifier`, the verifier reqwest uses; on Linux it
//! reads the system's CA bundle) or, when a CA file is configured, against the
//! certificates of that file only. The collector's certificate must chain to a
//! trusted root, be valid now and name the endpoint's host (DNS name or IP
//! address); TLS 1.2 and 1.3 only, rustls' safe defaults, the `ring` provider
//! (no OpenSSL, no process-wide provider installed). A client certificate and key,
//! when configured, are offered to a collector that asks for one (mutual TLS).
//!
//! OTLP/HTTP sends `https://` requests with hyper-rustls under
//! `opentelemetry-http`'s hyper client, `https_only` ([`http_client`]; plain
//! `http://` stays on reqwest); OTLP/gRPC gives tonic the same verifier and
//! identity ([`grpc_endpoint`]). reqwest's own TLS features are left alone on
//! purpose: `rustls-no-provider` would make every reqwest client in the
//! application panic when built without a process-wide crypto provider (feature
//! unification reaches the application's reqwest too), and `rustls` compiles
//! aws-lc. A build without the `tls` feature refuses an `https://`
//! destination when the exporter starts, with the feature to enable: it never
//! falls back to plaintext.
//!
//! The key file is read into memory only to build the configuration; neither its
//! content nor anything derived from it is logged or kept in a `Debug` output.

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient as _, HttpError};

use crate::config::{OtlpExport, is_https};

/// The HTTP client of one OTLP/HTTP destination: reqwest for `http://`, hyper
/// with rustls (and nothing else: `https_only`) for `https://`.
#[derive(Debug)]
pub(crate) enum OtlpHttpClient {
    /// `http://`.
    Plain(reqwest::Client),
    /// `https://`.
    #[cfg(feature = "tls")]
    Tls(Box<HttpsClient>),
}

#[cfg(feature = "tls")]
pub(crate) type HttpsClient = opentelemetry_http::hyper::HyperClient<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
>;

impl OtlpHttpClient {
    /// Sends one request and reads the whole answer (at most 4 MiB, as
    /// `opentelemetry-http` bounds it).
    pub(crate) async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        match self {
            OtlpHttpClient::Plain(c) => c.send_bytes(request).await,
            #[cfg(feature = "tls")]
            OtlpHttpClient::Tls(c) => c.send_bytes(request).await,
        }
    }
}

/// What a build without TLS says when asked for `https://`.
#[cfg_attr(feature = "tls", allow(dead_code))]
pub(crate) const NO_TLS: &str = "an https:// endpoint needs TLS, which this build of \
     observe-core lacks: enable the `tls` feature of observe-axum, observe-tonic or \
     observe-core (observe never falls back to plaintext)";

/// The client of an OTLP/HTTP destination, its requests bounded by `timeout`:
/// with the TLS configuration when the endpoint is `https://`.
pub(crate) fn http_client(
    target: &OtlpExport,
    timeout: Duration,
) -> Result<OtlpHttpClient, String> {
    if is_https(&target.endpoint) {
        #[cfg(feature = "tls")]
        {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(client_config(target)?)
                .https_only()
                .enable_http1()
                .build();
            return Ok(OtlpHttpClient::Tls(Box::new(
                opentelemetry_http::hyper::HyperClient::new(connector, timeout, None),
            )));
        }
        #[cfg(not(feature = "tls"))]
        {
            return Err(NO_TLS.into());
        }
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map(OtlpHttpClient::Plain)
        .map_err(|e| format!("the HTTP client could not be built: {e}"))
}

/// The tonic endpoint of an OTLP/gRPC destination: with the TLS configuration
/// when the endpoint is `https://`.
#[cfg(feature = "grpc")]
pub(crate) fn grpc_endpoint(target: &OtlpExport) -> Result<tonic::transport::Endpoint, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(target.endpoint.clone())
        .map_err(|e| format!("invalid endpoint: {e}"))?;
    if !is_https(&target.endpoint) {
        return Ok(endpoint);
    }
    #[cfg(feature = "tls")]
    {
        let tls = &target.tls;
        let mut config = tonic::transport::ClientTlsConfig::new();
        if let Some((cert, key)) = identity_pem(tls)? {
            config = config.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        endpoint
            .tls_config_with_verifier(config, verifier(tls)?)
            .map_err(|e| format!("TLS could not be configured: {e}"))
    }
    #[cfg(not(feature = "tls"))]
    {
        Err(NO_TLS.into())
    }
}

#[cfg(feature = "tls")]
pub(crate) use with_tls::*;

#[cfg(feature = "tls")]
mod with_tls {
    use std::path::Path;
    use std::sync::Arc;

    use rustls::client::danger::ServerCertVerifier;

    use crate::config::pem::{MAX_PEM_BYTES, load_certificates, load_key, parse_key, provider};
    use crate::config::{OtlpExport, OtlpTls, read_bounded};

    /// The verifier of the collector's certificate: the CA file's certificates
    /// only when one is configured, else the platform's trust store.
    pub(crate) fn verifier(tls: &OtlpTls) -> Result<Arc<dyn ServerCertVerifier>, String> {
        match &tls.ca_certificate {
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in load_certificates(path).map_err(|e| ca_error(path, e))? {
                    roots
                        .add(cert)
                        .map_err(|e| ca_error(path, format!("not a CA certificate: {e}")))?;
                }
                let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider(),
                )
                .build()
                .map_err(|e| ca_error(path, e))?;
                Ok(verifier)
            }
            None => {
                let verifier =
                    rustls_platform_verifier::Verifier::new(provider()).map_err(|e| {
                        format!(
                            "the platform's trust store could not be used ({e}); install the \
                         system's CA certificates or set OTEL_EXPORTER_OTLP_CERTIFICATE"
                        )
                    })?;
                Ok(Arc::new(verifier))
            }
        }
    }

    fn ca_error(path: &Path, e: impl std::fmt::Display) -> String {
        format!("CA certificate file {}: {e}", path.display())
    }

    /// A certificate chain and its key, as PEM files' bytes.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    type PemIdentity = (Vec<u8>, Vec<u8>);

    /// The client certificate chain and key, as PEM (what tonic takes), checked.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn identity_pem(tls: &OtlpTls) -> Result<Option<PemIdentity>, String> {
        let (Some(cert), Some(key)) = (&tls.client_certificate, &tls.client_key) else {
            return match (&tls.client_certificate, &tls.client_key) {
                (None, None) => Ok(None),
                _ => Err("a client certificate needs its key, and a key its certificate".into()),
            };
        };
        load_certificates(cert)
            .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
        let key_pem = read_bounded(key, MAX_PEM_BYTES)
            .map_err(|e| format!("client key {}: {e}", key.display()))?;
        parse_key(&key_pem).map_err(|e| format!("client key {}: {e}", key.display()))?;
        let cert_pem = read_bounded(cert, MAX_PEM_BYTES)
            .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
        Ok(Some((cert_pem, key_pem)))
    }

    /// The rustls configuration of an OTLP/HTTP destination.
    pub(crate) fn client_config(target: &OtlpExport) -> Result<rustls::ClientConfig, String> {
        let tls = &target.tls;
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS could not be configured: {e}"))?
            .dangerous() // only to plug in the verifier above; nothing is disabled
            .with_custom_certificate_verifier(verifier(tls)?);
        let config = match (&tls.client_certificate, &tls.client_key) {
            (Some(cert), Some(key)) => {
                let chain = load_certificates(cert)
                    .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
                let key =
                    load_key(key).map_err(|e| format!("client key {}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("the client certificate does not match its key: {e}"))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err("a client certificate needs its key, and a key its certificate".into());
            }
        };
        Ok(config)
    }
}

#[cfg(all(test, not(feature = "tls")))]
mod tests {
    use super::*;

    #[test]
    fn without_the_feature_an_https_destination_is_refused_never_sent_in_clear() {
        let target = OtlpExport::http("https://collector:4318/v1/traces");
        let err = http_client(&target, Duration::from_secs(1))
            .map(|_| ())
            .unwrap_err();
        assert!(err.contains("enable the `tls` feature"), "{err}");
        let plain = OtlpExport::http("http://collector:4318/v1/traces");
        assert!(http_client(&plain, Duration::from_secs(1)).is_ok());
    }
}
