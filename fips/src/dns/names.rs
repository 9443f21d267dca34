//! `NameBook`: which identity a `.fips` label names, and which name an
//! fd00::/8 address has. Order (as the reference documents it): hosts file,
//! then configured peer aliases, then the label read as an npub. It also
//! remembers the identities it has answered, for PTR and to decide when the
//! node needs to be told again, until the cap or until nobody has asked
//! for them for the idle time (`expire_idle`, swept by the DNS server).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::warn;

use super::hosts::{is_host_label, HostsFile};
use super::PeerIdentity;

/// Identities remembered from answers (see `crate::limits`).
const LEARNED_CAP: usize = crate::limits::DNS_NAMES;
/// The node is told about an identity again after this long, in case its
/// own cache dropped it; more often would only flood the channel.
const RENOTIFY_AFTER: Duration = Duration::from_secs(60);

/// Identities answered before. Also a cache of decoded npubs: decoding
/// checks the key is on the curve, the costliest step of an answer. Kept
/// small, as an app may fill it: the npub text (63 bytes) is not stored,
/// only its hash; a hit is confirmed by encoding the identity again.
#[derive(Default)]
struct Learned {
    by_addr: HashMap<Ipv6Addr, Answered>,
    by_label: HashMap<u64, Ipv6Addr>,
    order: VecDeque<Ipv6Addr>,
    hasher: RandomState,
}

/// One identity answered.
struct Answered {
    id: PeerIdentity,
    /// When the node was last told of it (None: not yet).
    told: Option<Instant>,
    /// When it was last answered.
    used: Instant,
}

impl Learned {
    fn get(&self, label: &str) -> Option<PeerIdentity> {
        let addr = self.by_label.get(&self.hasher.hash_one(label))?;
        let e = self.by_addr.get(addr)?;
        (e.id.npub() == label).then_some(e.id)
    }

    /// Forgets every name not answered for `idle`; returns how many.
    fn expire_idle(&mut self, now: Instant, idle: Duration) -> usize {
        let before = self.by_addr.len();
        self.by_addr
            .retain(|_, e| now.saturating_duration_since(e.used) < idle);
        let by_addr = &self.by_addr;
        self.by_label.retain(|_, addr| by_addr.contains_key(addr));
        self.order.retain(|addr| by_addr.contains_key(addr));
        fips_proto::routing::cache::shrink_if_sparse(&mut self.by_addr);
        fips_proto::routing::cache::shrink_if_sparse(&mut self.by_label);
        if self.order.capacity() > 64 && self.order.len() < self.order.capacity() / 4 {
            self.order.shrink_to_fit();
        }
        before - self.by_addr.len()
    }

    fn forget_oldest(&mut self) {
        let Some(old) = self.order.pop_front() else {
            return;
        };
        if let Some(e) = self.by_addr.remove(&old) {
            let h = self.hasher.hash_one(e.id.npub());
            if self.by_label.get(&h) == Some(&old) {
                self.by_label.remove(&h);
            }
        }
        crate::limits::count(&crate::limits::DNS_NAMES_EVICTED);
    }
}

pub struct NameBook {
    hosts: HostsFile,
    aliases: HashMap<String, PeerIdentity>,
    alias_of: HashMap<Ipv6Addr, String>,
    learned: Mutex<Learned>,
}

impl NameBook {
    /// Aliases that are not valid host labels are skipped with a warning;
    /// names are case-insensitive, so they are stored lowercase.
    pub fn new(hosts_file: PathBuf, aliases: &[(String, PeerIdentity)]) -> NameBook {
        let mut by_name = HashMap::new();
        for (alias, id) in aliases {
            let alias = alias.to_ascii_lowercase();
            if is_host_label(&alias) {
                by_name.insert(alias, *id);
            } else {
                warn!(%alias, "peer alias is not a DNS label (letters, digits, hyphens, at most 63); not served");
            }
        }
        let alias_of = by_name
            .iter()
            .map(|(n, id)| (id.ipv6(), n.clone()))
            .collect();
        NameBook {
            hosts: HostsFile::new(hosts_file),
            aliases: by_name,
            alias_of,
            learned: Mutex::new(Learned::default()),
        }
    }

    /// The identity a lowercase `.fips` label names, if any.
    pub fn lookup(&self, label: &str) -> Option<PeerIdentity> {
        if let Some(id) = self.hosts.current().get(label) {
            return Some(id);
        }
        if let Some(id) = self.aliases.get(label) {
            return Some(*id);
        }
        if !label.starts_with("npub1") {
            return None;
        }
        let learned = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = learned.get(label) {
            return Some(id);
        }
        drop(learned);
        PeerIdentity::from_npub(label).ok()
    }

    /// The label (without `.fips`) for an address: hosts name, alias, or the
    /// npub of an identity answered before. Unknown addresses have none.
    pub fn reverse(&self, addr: &Ipv6Addr) -> Option<String> {
        if let Some(name) = self.hosts.current().name_of(addr) {
            return Some(name.to_owned());
        }
        if let Some(name) = self.alias_of.get(addr) {
            return Some(name.clone());
        }
        let learned = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
        learned.by_addr.get(addr).map(|e| e.id.npub())
    }

    /// The node could not be told of `addr` after all (its queue was
    /// full): the next answer for it tries again.
    pub fn untold(&self, addr: &Ipv6Addr) {
        let mut learned = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = learned.by_addr.get_mut(addr) {
            e.told = None;
        }
    }

    /// Records an answered identity, whose address is `addr`; true when
    /// the node should be told (first time, or not for `RENOTIFY_AFTER`).
    pub fn remember(&self, id: PeerIdentity, addr: Ipv6Addr, now: Instant) -> bool {
        let mut learned = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = learned.by_addr.get_mut(&addr) {
            e.used = now;
            if e.told
                .is_some_and(|t| now.saturating_duration_since(t) < RENOTIFY_AFTER)
            {
                return false;
            }
            e.told = Some(now);
            return true;
        }
        if learned.order.len() >= LEARNED_CAP {
            learned.forget_oldest();
        }
        let h = learned.hasher.hash_one(id.npub());
        learned.order.push_back(addr);
        learned.by_label.insert(h, addr);
        let entry = Answered {
            id,
            told: Some(now),
            used: now,
        };
        learned.by_addr.insert(addr, entry);
        crate::limits::DNS_NAMES_LEN
            .store(learned.order.len(), std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// Forgets the names nobody asked for in `idle` (counted in
    /// `dns_names.expired`); returns how many went.
    pub fn expire_idle(&self, now: Instant, idle: Duration) -> usize {
        let mut learned = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
        let gone = learned.expire_idle(now, idle);
        crate::limits::DNS_NAMES_LEN
            .store(learned.order.len(), std::sync::atomic::Ordering::Relaxed);
        crate::limits::DNS_NAMES_EXPIRED
            .fetch_add(gone as u64, std::sync::atomic::Ordering::Relaxed);
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test keys a and b (testdata/identity.json).
    const A: &str = fips_testkit::keys::A.npub;
    const B: &str = fips_testkit::keys::B.npub;

    fn id(npub: &str) -> PeerIdentity {
        PeerIdentity::from_npub(npub).expect("vector npub")
    }

    fn book_with_hosts(text: &str, aliases: &[(String, PeerIdentity)]) -> (NameBook, PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "fdns-names-{}-{}",
            std::process::id(),
            text.len() + aliases.len()
        ));
        std::fs::write(&path, text).expect("write hosts");
        (NameBook::new(path.clone(), aliases), path)
    }

    #[test]
    fn hosts_file_wins_over_alias_and_alias_over_nothing() {
        let aliases = vec![("Shared".to_owned(), id(B)), ("mine".to_owned(), id(B))];
        let (book, path) = book_with_hosts(&format!("shared {A}\n"), &aliases);
        assert_eq!(book.lookup("shared"), Some(id(A)));
        assert_eq!(book.lookup("mine"), Some(id(B)));
        assert_eq!(book.lookup(A), Some(id(A)));
        assert_eq!(book.lookup("npub1nope"), None);
        assert_eq!(book.lookup("nobody"), None);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn reverse_knows_hosts_aliases_and_answered_npubs_only() {
        let aliases = vec![("mine".to_owned(), id(B))];
        let (book, path) = book_with_hosts(&format!("laptop {A}\n"), &aliases);
        assert_eq!(book.reverse(&id(A).ipv6()).as_deref(), Some("laptop"));
        assert_eq!(book.reverse(&id(B).ipv6()).as_deref(), Some("mine"));
        let c = id(fips_testkit::keys::C.npub);
        assert_eq!(book.reverse(&c.ipv6()), None);
        assert!(book.remember(c, c.ipv6(), Instant::now()));
        assert_eq!(book.reverse(&c.ipv6()), Some(c.npub()));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn remembered_names_are_bounded_and_the_oldest_go_first() {
        let (book, path) = book_with_hosts("", &[]);
        let t0 = Instant::now();
        let ids: Vec<PeerIdentity> = (0u32..)
            .filter_map(|i| {
                let mut x = [0x42u8; 32];
                x[..4].copy_from_slice(&i.to_le_bytes());
                PeerIdentity::from_xonly(x).ok()
            })
            .take(LEARNED_CAP + 1)
            .collect();
        for id in &ids {
            assert!(book.remember(*id, id.ipv6(), t0));
        }
        let learned = book.learned.lock().expect("lock");
        assert_eq!(learned.by_addr.len(), LEARNED_CAP);
        assert_eq!(learned.by_label.len(), LEARNED_CAP);
        assert_eq!(learned.get(&ids[0].npub()), None, "oldest forgotten");
        assert_eq!(
            learned.get(&ids[LEARNED_CAP].npub()),
            Some(ids[LEARNED_CAP])
        );
        drop(learned);
        assert_eq!(book.reverse(&ids[1].ipv6()), Some(ids[1].npub()));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn names_nobody_asked_for_in_the_idle_time_are_forgotten() {
        let (book, path) = book_with_hosts("", &[]);
        let (t0, s) = (Instant::now(), Duration::from_secs(1));
        let ids: Vec<PeerIdentity> = (0u32..)
            .filter_map(|i| {
                let mut x = [0x43u8; 32];
                x[..4].copy_from_slice(&i.to_le_bytes());
                PeerIdentity::from_xonly(x).ok()
            })
            .take(1000)
            .collect();
        for id in &ids {
            book.remember(*id, id.ipv6(), t0);
        }
        let grown = book.learned.lock().expect("lock").by_addr.capacity();
        book.remember(ids[7], ids[7].ipv6(), t0 + 5 * s);
        assert_eq!(book.expire_idle(t0 + 9 * s, 10 * s), 0);
        assert_eq!(book.expire_idle(t0 + 10 * s, 10 * s), 999);
        assert_eq!(
            book.reverse(&ids[7].ipv6()),
            Some(ids[7].npub()),
            "asked again at 5 s"
        );
        assert_eq!(book.reverse(&ids[8].ipv6()), None);
        assert_eq!(book.lookup(&ids[8].npub()), Some(ids[8]), "decoded again");
        let learned = book.learned.lock().expect("lock");
        assert_eq!((learned.by_label.len(), learned.order.len()), (1, 1));
        assert!(learned.by_addr.capacity() < grown / 4, "memory given back");
        drop(learned);
        assert!(
            book.remember(ids[8], ids[8].ipv6(), t0 + 11 * s),
            "told anew"
        );
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn remember_tells_the_node_once_per_interval() {
        let (book, path) = book_with_hosts("", &[]);
        let t0 = Instant::now();
        let a = id(A).ipv6();
        assert!(book.remember(id(A), a, t0));
        assert!(!book.remember(id(A), a, t0 + Duration::from_secs(1)));
        assert!(book.remember(id(A), a, t0 + RENOTIFY_AFTER));
        book.untold(&a);
        assert!(
            book.remember(id(A), a, t0 + RENOTIFY_AFTER),
            "not told after all (queue full): told at the next answer"
        );
        let _ = std::fs::remove_file(path);
    }
}
