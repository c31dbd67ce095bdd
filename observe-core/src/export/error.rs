//! Why the exporter could not start.

use std::fmt;

/// Why the exporter could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// A signal's settings were refused (endpoint, header, compression...).
    Config {
        /// `traces` or `logs`.
        signal: &'static str,
        /// The endpoint configured for it.
        endpoint: String,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// The exporter thread or its runtime could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Config {
                signal,
                endpoint,
                message,
            } => write!(
                f,
                "invalid OTLP {signal} export settings (endpoint {endpoint:?}): {message}"
            ),
            ExportError::Thread(e) => write!(f, "the OTLP exporter thread could not start: {e}"),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Thread(e) => Some(e),
            ExportError::Config { .. } => None,
        }
    }
}
