//! Every peer the node knows, in one map, each with one `PeerState`: a
//! configured peer waiting to be dialled, our handshake in flight, or an
//! authenticated link (with, during a cross-connection, our own handshake
//! still in flight beside it). A configured peer also keeps its
//! `PeerSlot` (addresses, reconnect backoff) through every state. An entry
//! that is neither configured nor doing anything is removed.
//!
//! Accessors are named after what they reach: `get`, `keys`, `values`,
//! `len` see linked peers only, `dial*` handshakes in flight, `slot*`
//! configuration.
//!
//! Nothing the node asks after every event walks all peers: handshakes in
//! flight and configured peers are indexed, and link timers wait in a heap
//! (`LinkWakes`). A hub holds thousands of links that neither dial nor are
//! configured, and its wake-up time was a walk over all of them per frame.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::net::IpAddr;

use crate::NodeAddr;

use std::time::Instant;

struct ByIp {
    known: HashSet<IpAddr>,
    linked: HashMap<IpAddr, Vec<NodeAddr>>,
}

use super::handshake::{Dial, PeerSlot};
use super::link::Peer;
use super::timers::PeerTimer;

/// Where one peer's life stands.
pub(crate) enum PeerState {
    /// Not linked and no handshake in flight (a configured peer waits for
    /// its next attempt, if any).
    Idle,
    /// Our msg1 is out, waiting for msg2.
    Dialing(Dial),
    /// Authenticated. `dial` is our own handshake still in flight when the
    /// peer's won first (the cross-connection rule settles it at msg2).
    Up { link: Box<Peer>, dial: Option<Dial> },
}

pub(crate) struct PeerEntry {
    /// Present for peers from the config or `connect`.
    pub slot: Option<PeerSlot>,
    pub state: PeerState,
}

impl PeerEntry {
    fn link(&self) -> Option<&Peer> {
        match &self.state {
            PeerState::Up { link, .. } => Some(link),
            _ => None,
        }
    }

    fn link_mut(&mut self) -> Option<&mut Peer> {
        match &mut self.state {
            PeerState::Up { link, .. } => Some(link),
            _ => None,
        }
    }

    fn dial(&self) -> Option<&Dial> {
        match &self.state {
            PeerState::Dialing(d) | PeerState::Up { dial: Some(d), .. } => Some(d),
            _ => None,
        }
    }

    fn dial_mut(&mut self) -> Option<&mut Dial> {
        match &mut self.state {
            PeerState::Dialing(d) | PeerState::Up { dial: Some(d), .. } => Some(d),
            _ => None,
        }
    }

    fn is_unused(&self) -> bool {
        self.slot.is_none() && matches!(self.state, PeerState::Idle)
    }
}

#[derive(Default)]
pub(crate) struct PeerTable {
    map: BTreeMap<NodeAddr, PeerEntry>,
    linked: usize,
    /// Peers with a handshake of ours in flight, and configured peers.
    dialing: BTreeSet<NodeAddr>,
    slots: BTreeSet<NodeAddr>,
    wakes: LinkWakes,
    /// `known_ips()` as a set, and the linked peers by the IP of their
    /// address: built on demand, dropped on any change to either. Every
    /// msg1, junk included, asks whether its sender is known, and an
    /// admitted one which linked peer at its IP answered it already; a
    /// walk over every peer for each was a flood's lever on a hub.
    by_ip: Option<ByIp>,
}

/// The links' timers by deadline. Each link's `TimerTable` remembers the
/// deadline of its live entry (`queued`). `get_mut` and `insert`, the only
/// ways to change a link, note the link as touched; before the earliest
/// deadline is read (`sync`), every touched link whose earliest timer
/// moved before its entry gets a new one. Entries left behind (the timer
/// moved later, the link went away) are recognised on pop and dropped, and
/// the heap is rebuilt when they outnumber the links. (std's `BinaryHeap`
/// has no decrease-key; a timing wheel would need a tick; no maintained
/// crate offers a keyed timer queue outside an async runtime.)
#[derive(Default)]
struct LinkWakes {
    heap: BinaryHeap<Reverse<(Instant, NodeAddr)>>,
    /// Links changed since the last `sync`, each once.
    touched: Vec<NodeAddr>,
}

impl LinkWakes {
    fn touch(&mut self, addr: NodeAddr, link: &mut Peer) {
        if !link.timers.touched {
            link.timers.touched = true;
            self.touched.push(addr);
        }
    }

    fn note(&mut self, addr: NodeAddr, link: &mut Peer) {
        link.timers.touched = false;
        let Some(next) = link.timers.next() else {
            return;
        };
        if link.timers.queued.is_none_or(|q| next < q) {
            link.timers.queued = Some(next);
            self.heap.push(Reverse((next, addr)));
        }
    }
}

impl PeerTable {
    fn entry(&mut self, addr: NodeAddr) -> &mut PeerEntry {
        self.map.entry(addr).or_insert(PeerEntry {
            slot: None,
            state: PeerState::Idle,
        })
    }

    fn prune(&mut self, addr: &NodeAddr) {
        if self.map.get(addr).is_some_and(PeerEntry::is_unused) {
            self.map.remove(addr);
        }
    }

    // Linked peers.

    pub fn get(&self, addr: &NodeAddr) -> Option<&Peer> {
        self.map.get(addr).and_then(PeerEntry::link)
    }

    pub fn get_mut(&mut self, addr: &NodeAddr) -> Option<&mut Peer> {
        let link = self.map.get_mut(addr).and_then(PeerEntry::link_mut)?;
        self.wakes.touch(*addr, link);
        Some(link)
    }

    pub fn contains_key(&self, addr: &NodeAddr) -> bool {
        self.get(addr).is_some()
    }

    pub fn len(&self) -> usize {
        self.linked
    }

    pub fn keys(&self) -> impl Iterator<Item = &NodeAddr> {
        self.iter().map(|(a, _)| a)
    }

    pub fn values(&self) -> impl Iterator<Item = &Peer> {
        self.iter().map(|(_, p)| p)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NodeAddr, &Peer)> {
        self.map.iter().filter_map(|(a, e)| Some((a, e.link()?)))
    }

    /// The link is up: a dial in flight stays beside it.
    pub fn insert(&mut self, addr: NodeAddr, link: Peer) {
        self.by_ip = None;
        let mut link = Box::new(link);
        link.timers.queued = None;
        link.timers.touched = false;
        self.wakes.touch(addr, &mut link);
        let e = self.entry(addr);
        let was_up = matches!(e.state, PeerState::Up { .. });
        let dial = match std::mem::replace(&mut e.state, PeerState::Idle) {
            PeerState::Dialing(d) => Some(d),
            PeerState::Up { dial, .. } => dial,
            PeerState::Idle => None,
        };
        e.state = PeerState::Up { link, dial };
        if !was_up {
            self.linked += 1;
        }
    }

    /// The link is down: a dial in flight carries on.
    pub fn remove(&mut self, addr: &NodeAddr) -> Option<Peer> {
        self.by_ip = None;
        let e = self.map.get_mut(addr)?;
        if !matches!(e.state, PeerState::Up { .. }) {
            return None;
        }
        let PeerState::Up { link, dial } = std::mem::replace(&mut e.state, PeerState::Idle) else {
            return None;
        };
        e.state = dial.map_or(PeerState::Idle, PeerState::Dialing);
        self.linked -= 1;
        self.prune(addr);
        Some(*link)
    }

    // Our handshakes in flight.

    pub fn dial(&self, addr: &NodeAddr) -> Option<&Dial> {
        self.map.get(addr).and_then(PeerEntry::dial)
    }

    pub fn dial_mut(&mut self, addr: &NodeAddr) -> Option<&mut Dial> {
        self.by_ip = None;
        self.map.get_mut(addr).and_then(PeerEntry::dial_mut)
    }

    pub fn dials(&self) -> impl Iterator<Item = (&NodeAddr, &Dial)> {
        self.dialing
            .iter()
            .filter_map(|a| Some((a, self.map.get(a)?.dial()?)))
    }

    /// Links: linked peers plus our handshakes in flight to peers not
    /// linked (a dial beside a link shares its entry).
    pub fn links(&self) -> usize {
        let dialing_alone = self.dialing.iter().filter(|a| {
            self.map
                .get(a)
                .is_some_and(|e| matches!(e.state, PeerState::Dialing(_)))
        });
        self.linked + dialing_alone.count()
    }

    /// Our handshakes in flight, beside a link or alone.
    pub fn dialing(&self) -> usize {
        self.dialing.len()
    }

    pub fn insert_dial(&mut self, addr: NodeAddr, dial: Dial) {
        self.by_ip = None;
        let e = self.entry(addr);
        match &mut e.state {
            PeerState::Up { dial: d, .. } => *d = Some(dial),
            s => *s = PeerState::Dialing(dial),
        }
        self.dialing.insert(addr);
    }

    pub fn remove_dial(&mut self, addr: &NodeAddr) -> Option<Dial> {
        self.by_ip = None;
        let e = self.map.get_mut(addr)?;
        let dial = match &mut e.state {
            PeerState::Up { dial, .. } => dial.take(),
            PeerState::Dialing(_) => match std::mem::replace(&mut e.state, PeerState::Idle) {
                PeerState::Dialing(d) => Some(d),
                _ => None,
            },
            PeerState::Idle => None,
        };
        if dial.is_some() {
            self.dialing.remove(addr);
        }
        self.prune(addr);
        dial
    }

    // Configured peers.

    pub fn slot(&self, addr: &NodeAddr) -> Option<&PeerSlot> {
        self.map.get(addr).and_then(|e| e.slot.as_ref())
    }

    pub fn slot_mut(&mut self, addr: &NodeAddr) -> Option<&mut PeerSlot> {
        self.by_ip = None;
        self.map.get_mut(addr).and_then(|e| e.slot.as_mut())
    }

    pub fn slots(&self) -> impl Iterator<Item = (&NodeAddr, &PeerSlot)> {
        self.slots
            .iter()
            .filter_map(|a| Some((a, self.map.get(a)?.slot.as_ref()?)))
    }

    pub fn insert_slot(&mut self, addr: NodeAddr, slot: PeerSlot) {
        self.by_ip = None;
        self.entry(addr).slot = Some(slot);
        self.slots.insert(addr);
    }

    pub fn remove_slot(&mut self, addr: &NodeAddr) {
        self.by_ip = None;
        if let Some(e) = self.map.get_mut(addr) {
            if e.slot.take().is_some() {
                self.slots.remove(addr);
            }
        }
        self.prune(addr);
    }

    /// A linked peer's address moved (`Peer::remote` was set): its IP may
    /// be another.
    pub fn remote_moved(&mut self) {
        self.by_ip = None;
    }

    /// The IPs of linked peers, of peers we are dialling and of configured
    /// peers (canonical: an IPv4-mapped IPv6 address as IPv4), possibly
    /// repeated.
    pub fn known_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let linked = self.values().map(|p| p.remote);
        let dialled = self.dials().map(|(_, d)| d.remote);
        let configured = self.slots().flat_map(|(_, s)| s.cfg.addrs.iter().copied());
        linked
            .chain(dialled)
            .chain(configured)
            .map(|a| a.ip().to_canonical())
    }

    fn by_ip(&mut self) -> &ByIp {
        let built = match self.by_ip.take() {
            Some(b) => b,
            None => {
                let mut linked: HashMap<IpAddr, Vec<NodeAddr>> = HashMap::new();
                for (addr, p) in self.iter() {
                    let ip = p.remote.ip().to_canonical();
                    linked.entry(ip).or_default().push(*addr);
                }
                let known = self.known_ips().collect();
                ByIp { known, linked }
            }
        };
        self.by_ip.insert(built)
    }

    /// Whether `ip` (canonical) is one of `known_ips`.
    pub fn is_known_ip(&mut self, ip: IpAddr) -> bool {
        self.by_ip().known.contains(&ip)
    }

    /// The linked peers whose address has this IP (canonical).
    pub fn linked_at(&mut self, ip: IpAddr) -> Vec<NodeAddr> {
        self.by_ip().linked.get(&ip).cloned().unwrap_or_default()
    }

    pub fn clear_slots(&mut self) {
        for a in std::mem::take(&mut self.slots) {
            self.remove_slot(&a);
        }
    }
}

/// The timers due at `now`, by kind: handshakes in flight, then
/// reconnects, then link timers (disarmed as they are returned).
impl PeerTable {
    pub fn due_dials(&mut self, now: Instant) -> Vec<(NodeAddr, PeerTimer)> {
        self.dials()
            .filter(|(_, d)| d.next_resend.min(d.deadline) <= now)
            .map(|(a, _)| (*a, PeerTimer::Dial))
            .collect()
    }

    pub fn due_reconnects(&mut self, now: Instant) -> Vec<(NodeAddr, PeerTimer)> {
        self.slots()
            .filter(|(_, s)| s.next_attempt.is_some_and(|t| t <= now))
            .map(|(a, _)| (*a, PeerTimer::Reconnect))
            .collect()
    }

    pub fn expired_links(&mut self, now: Instant) -> Vec<(NodeAddr, PeerTimer)> {
        self.sync();
        let mut out = Vec::new();
        while let Some(Reverse((at, addr))) = self.wakes.heap.peek().copied() {
            if at > now {
                break;
            }
            self.wakes.heap.pop();
            let Some(link) = self.map.get_mut(&addr).and_then(PeerEntry::link_mut) else {
                continue;
            };
            if link.timers.queued != Some(at) {
                continue; // left behind: the link's live entry is elsewhere
            }
            link.timers.queued = None;
            let due = link.timers.expired(now);
            self.wakes.note(addr, link);
            out.extend(due.into_iter().map(|t| (addr, PeerTimer::Link(t))));
        }
        self.compact();
        out
    }

    /// Queues the touched links' timers (see `LinkWakes`).
    pub fn sync(&mut self) {
        for addr in std::mem::take(&mut self.wakes.touched) {
            if let Some(link) = self.map.get_mut(&addr).and_then(PeerEntry::link_mut) {
                self.wakes.note(addr, link);
            }
        }
    }

    /// The earliest link timer as of the last `sync` (possibly one left
    /// behind, which costs a wake-up that finds nothing due).
    pub fn next_link_timer(&self) -> Option<Instant> {
        self.wakes.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Rebuilds the heap from the links' live entries once the entries
    /// left behind outnumber them (timers that keep moving later, such as
    /// the dead-peer check re-armed by every frame, leave one each).
    fn compact(&mut self) {
        if self.wakes.heap.len() <= 2 * self.linked + 64 {
            return;
        }
        let live = self.map.iter().filter_map(|(a, e)| {
            let at = e.link()?.timers.queued?;
            Some(Reverse((at, *a)))
        });
        self.wakes.heap = live.collect();
    }
}

#[cfg(test)]
impl std::ops::Index<&NodeAddr> for PeerTable {
    type Output = Peer;

    /// The linked peer at `addr`; panics when there is none (tests).
    fn index(&self, addr: &NodeAddr) -> &Peer {
        self.get(addr).expect("no linked peer at this address")
    }
}
