//! The hosts file (`/etc/fips/hosts`): `<name> <npub>` per line, `#`
//! comments, last duplicate wins. Re-read when its mtime, size or inode
//! changes, checked at most once per query that needs it, so an edit is
//! seen by the next lookup without a restart.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tracing::{debug, warn};

use super::PeerIdentity;

/// Files larger than this are refused: the map is rebuilt in the query path.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// More entries than this are ignored, bounding memory and reload time.
const MAX_ENTRIES: usize = 10_000;

/// One parsed snapshot of the file, indexed both ways.
#[derive(Default, Debug)]
pub(crate) struct HostsMap {
    by_name: HashMap<String, PeerIdentity>,
    by_addr: HashMap<Ipv6Addr, String>,
}

impl HostsMap {
    pub(crate) fn get(&self, name: &str) -> Option<PeerIdentity> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn name_of(&self, addr: &Ipv6Addr) -> Option<&str> {
        self.by_addr.get(addr).map(String::as_str)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Parses the text; bad lines are skipped with a warning naming the line.
    pub(crate) fn parse(text: &str, origin: &Path) -> HostsMap {
        let mut by_name = HashMap::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok((name, id)) if by_name.len() < MAX_ENTRIES || by_name.contains_key(&name) => {
                    by_name.insert(name, id);
                }
                Ok(_) => {
                    warn!(file = %origin.display(), "more than {MAX_ENTRIES} hosts entries; ignoring the rest");
                    break;
                }
                Err(why) => {
                    warn!(file = %origin.display(), line = idx + 1, "skipping hosts line: {why}")
                }
            }
        }
        // Built after the names so that a later duplicate also wins in reverse.
        let by_addr = by_name
            .iter()
            .map(|(n, id)| (id.ipv6(), n.clone()))
            .collect();
        HostsMap { by_name, by_addr }
    }
}

fn parse_line(line: &str) -> Result<(String, PeerIdentity), String> {
    let mut fields = line.split_whitespace();
    let (Some(name), Some(npub), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err("expected `<name> <npub>`".to_owned());
    };
    let name = name.to_ascii_lowercase();
    if !is_host_label(&name) {
        return Err(format!(
            "name {name:?} must be 1-63 letters, digits or hyphens"
        ));
    }
    let id = PeerIdentity::from_npub(npub).map_err(|e| format!("{npub:?}: {e}"))?;
    Ok((name, id))
}

/// A hosts-file or alias name: one DNS label of letters, digits, hyphens.
pub(crate) fn is_host_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// What identifies one version of the file on disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    mtime: Option<SystemTime>,
    len: u64,
    ino: u64,
}

#[derive(Debug)]
struct Loaded {
    stamp: Option<Stamp>,
    map: Arc<HostsMap>,
}

/// The hosts file and its last parsed snapshot.
#[derive(Debug)]
pub(crate) struct HostsFile {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl HostsFile {
    pub(crate) fn new(path: PathBuf) -> HostsFile {
        let file = HostsFile {
            path,
            loaded: Mutex::new(Loaded {
                stamp: None,
                map: Arc::default(),
            }),
        };
        file.current();
        file
    }

    /// The snapshot matching the file as it is now (re-read if it changed;
    /// a missing or unreadable file is an empty map).
    pub(crate) fn current(&self) -> Arc<HostsMap> {
        let stamp = std::fs::metadata(&self.path).ok().map(|m| Stamp {
            mtime: m.modified().ok(),
            len: m.len(),
            ino: m.ino(),
        });
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if loaded.stamp != stamp || stamp.is_none() && loaded.map.len() > 0 {
            loaded.map = Arc::new(self.read(stamp));
            loaded.stamp = stamp;
        }
        Arc::clone(&loaded.map)
    }

    fn read(&self, stamp: Option<Stamp>) -> HostsMap {
        let Some(stamp) = stamp else {
            debug!(file = %self.path.display(), "no hosts file");
            return HostsMap::default();
        };
        if stamp.len > MAX_FILE_BYTES {
            warn!(file = %self.path.display(), bytes = stamp.len, "hosts file larger than {MAX_FILE_BYTES} bytes; ignored");
            return HostsMap::default();
        }
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                let map = HostsMap::parse(&text, &self.path);
                debug!(file = %self.path.display(), entries = map.len(), "hosts file loaded");
                map
            }
            Err(e) => {
                warn!(file = %self.path.display(), error = %e, "cannot read hosts file");
                HostsMap::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = fips_testkit::keys::A.npub;
    const A_IPV6: &str = "fd69:e08d:65cc:3a6b:9c2c:2ac4:bd40:5e4b";

    #[test]
    fn parses_names_comments_and_blank_lines() {
        let text = format!("# roster\n\n  Laptop   {A}  # mine\nbad line here\nx_y {A}\n");
        let map = HostsMap::parse(&text, Path::new("t"));
        assert_eq!(map.len(), 1);
        assert_eq!(map.get("laptop").map(|id| id.npub()), Some(A.to_owned()));
        let addr: Ipv6Addr = A_IPV6.parse().expect("literal");
        assert_eq!(map.name_of(&addr), Some("laptop"));
    }

    #[test]
    fn later_duplicate_name_wins() {
        let b = fips_testkit::keys::B.npub;
        let text = format!("dup {A}\ndup {b}\n");
        let map = HostsMap::parse(&text, Path::new("t"));
        assert_eq!(map.get("dup").map(|id| id.npub()), Some(b.to_owned()));
        let a_addr: Ipv6Addr = A_IPV6.parse().expect("literal");
        assert_eq!(map.name_of(&a_addr), None);
    }

    #[test]
    fn rejects_labels_that_are_not_hostnames() {
        assert!(is_host_label("test-us01"));
        assert!(!is_host_label(""));
        assert!(!is_host_label("a.b"));
        assert!(!is_host_label(&"a".repeat(64)));
    }

    #[test]
    fn reloads_when_the_file_changes_and_empties_when_it_goes() {
        let dir = std::env::temp_dir().join(format!("fdns-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("hosts");
        let _ = std::fs::remove_file(&path);
        let file = HostsFile::new(path.clone());
        assert_eq!(file.current().len(), 0);
        std::fs::write(&path, format!("one {A}\n")).expect("write");
        assert!(file.current().get("one").is_some());
        std::fs::write(&path, format!("one {A}\ntwo {A}\n")).expect("write");
        assert!(file.current().get("two").is_some());
        std::fs::remove_file(&path).expect("rm");
        assert_eq!(file.current().len(), 0);
        let _ = std::fs::remove_dir(&dir);
    }
}
