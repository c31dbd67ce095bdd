//! TEMP: placeholder until the configuration module lands (replaced wholesale).

/// Placeholder.
#[derive(Debug)]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn single(var: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError(format!("{var}={value:?}: expected {expected}"))
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}
