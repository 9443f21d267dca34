//! The node's secret key as text, and the key file that keeps a generated
//! key across restarts (mode 0600, one line: the nsec).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use fips_proto::identity::Identity;
use rand::rngs::OsRng;

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

    /// Parses the key into the node identity; errors name `key` (the
    /// config key or variable) and never show the value.
    pub fn identity(&self, key: &str) -> Result<Identity, ConfigError> {
        Identity::from_secret_str(self.expose()).map_err(|source| ConfigError::Key {
            key: key.to_string(),
            source,
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
    /// Returns the node identity: the inline key, the key file's, or a new
    /// one generated into the key file (with `fips.pub` beside it).
    pub fn load_or_create(&self) -> Result<(Identity, KeyOrigin), ConfigError> {
        match self {
            IdentitySource::Inline { key, origin } => {
                Ok((key.identity(origin)?, KeyOrigin::Inline))
            }
            IdentitySource::KeyFile { path, .. } => match read_key_file(path)? {
                Some(id) => Ok((id, KeyOrigin::LoadedFromFile)),
                None => {
                    let id = Identity::generate(&mut OsRng);
                    write_key_file(path, &SecretKey::new(id.nsec()))?;
                    write_pub_file(path, &id.public().npub())?;
                    Ok((id, KeyOrigin::Generated))
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

fn read_key_file(path: &Path) -> Result<Option<Identity>, ConfigError> {
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
    Identity::from_secret_str(&text)
        .map(Some)
        .map_err(|source| ConfigError::KeyFileContent {
            path: path.into(),
            got: describe_secret(text.trim()),
            source,
        })
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
