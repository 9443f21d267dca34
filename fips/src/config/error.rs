use std::path::PathBuf;

use fips_proto::identity::IdentityError;

/// Why the configuration could not be used. Messages name the key or the
/// variable, what was expected and what was given (never a secret).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid YAML: {source}")]
    Yaml {
        path: PathBuf,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    #[error("config file {path}: key {key} appears twice in one mapping (line {line}): keep one")]
    DuplicateKey {
        path: PathBuf,
        key: String,
        line: u64,
    },
    #[error(
        "unknown configuration key{} in {path}: {} (neither this daemon nor FIPS v0.4.1 knows {})",
        if keys.len() == 1 { "" } else { "s" },
        keys.join(", "),
        if keys.len() == 1 { "it" } else { "them" }
    )]
    UnknownKeys { path: PathBuf, keys: Vec<String> },
    #[error("{key} is not valid: expected {expected}, got {got}")]
    Invalid {
        key: String,
        expected: &'static str,
        got: String,
    },
    #[error("{first} and {second} are both set: set only one of them")]
    Conflict {
        first: &'static str,
        second: &'static str,
    },
    #[error("{key} is set but {needs} is not: set both or neither")]
    Incomplete {
        key: &'static str,
        needs: &'static str,
    },
    #[error("key file {path}: {action} failed: {source}")]
    KeyFile {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path} holds no valid key ({got}): {source}")]
    KeyFileContent {
        path: PathBuf,
        got: String,
        #[source]
        source: IdentityError,
    },
    #[error("{key} is not a valid key: {source}")]
    Key {
        key: String,
        #[source]
        source: IdentityError,
    },
}

/// Describes a value for an error message, shortened so a pasted blob
/// cannot flood the terminal.
pub(crate) fn describe(value: &str) -> String {
    const MAX: usize = 60;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        let short: String = value.chars().take(MAX).collect();
        format!("{short:?}... ({} characters)", value.chars().count())
    }
}

/// Describes a secret without revealing it.
pub(crate) fn describe_secret(value: &str) -> String {
    format!(
        "a value of {} characters (not shown)",
        value.chars().count()
    )
}
