//! The node's secret key as text, and the key file that keeps a generated
//! key across restarts (mode 0600, one line: the nsec).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use super::error::{describe_secret, ConfigError};
use super::IdentitySource;

/// Secret key text (nsec1... or 64 hex), wiped on drop, never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    pub fn new(text: String) -> SecretKey {
        SecretKey(Zeroizing::new(text))
    }

    /// The key text; only for building the identity.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Cheap shape check, so a typo is reported with the key's name before
    /// the identity layer runs: nsec1 + 58 bech32 chars, or 64 hex digits.
    pub(crate) fn check(&self, key: &str) -> Result<(), ConfigError> {
        let s = self.expose();
        let hex = s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let nsec = s.len() == 63 && s.starts_with("nsec1");
        if hex || nsec {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            key: key.into(),
            expected: "an nsec1... key (63 characters) or 64 hex characters",
            got: describe_secret(s),
        })
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// What [`IdentitySource::load_or_create`] did, for the startup log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    Inline,
    LoadedFromFile,
    Generated,
}

impl IdentitySource {
    /// Returns the secret key, reading the key file or generating a new key
    /// into it (`generate` makes the key text) when it does not exist yet.
    pub fn load_or_create(
        &self,
        generate: impl FnOnce() -> SecretKey,
    ) -> Result<(SecretKey, KeyOrigin), ConfigError> {
        match self {
            IdentitySource::Inline { key, .. } => Ok((key.clone(), KeyOrigin::Inline)),
            IdentitySource::KeyFile { path, .. } => match read_key_file(path)? {
                Some(key) => Ok((key, KeyOrigin::LoadedFromFile)),
                None => {
                    let key = generate();
                    write_key_file(path, &key)?;
                    Ok((key, KeyOrigin::Generated))
                }
            },
        }
    }

    /// The variable or key that supplied the key, for error messages.
    pub fn origin(&self) -> &'static str {
        match self {
            IdentitySource::Inline { origin, .. } | IdentitySource::KeyFile { origin, .. } => {
                origin
            }
        }
    }
}

fn read_key_file(path: &Path) -> Result<Option<SecretKey>, ConfigError> {
    let io_err = |action, source| ConfigError::KeyFile {
        path: path.into(),
        action,
        source,
    };
    let text = match fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("reading", e)),
    };
    let mode = fs::metadata(path)
        .map_err(|e| io_err("stat", e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777),
            "key file is readable by group or others; chmod 600 it");
    }
    let key = SecretKey::new(text.trim().to_string());
    key.check("key file")
        .map_err(|_| ConfigError::KeyFileContent {
            path: path.into(),
            got: describe_secret(key.expose()),
        })?;
    Ok(Some(key))
}

fn write_key_file(path: &Path, key: &SecretKey) -> Result<(), ConfigError> {
    let io_err = |action, source| ConfigError::KeyFile {
        path: path.into(),
        action,
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_err("creating its directory", e))?;
    }
    // create_new: never truncate a key another process just wrote.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_err("creating", e))?;
    let line = Zeroizing::new(format!("{}\n", key.expose()));
    file.write_all(line.as_bytes())
        .map_err(|e| io_err("writing", e))?;
    file.sync_all().map_err(|e| io_err("syncing", e))
}

/// Writes `fips.pub` next to the key file (mode 0644), as the reference
/// does, so operators can read the npub without the daemon.
pub fn write_pub_file(key_path: &Path, npub: &str) -> Result<(), ConfigError> {
    let path = key_path.with_extension("pub");
    fs::write(&path, format!("{npub}\n"))
        .and_then(|_| fs::set_permissions(&path, fs::Permissions::from_mode(0o644)))
        .map_err(|source| ConfigError::KeyFile {
            path,
            action: "writing",
            source,
        })
}
