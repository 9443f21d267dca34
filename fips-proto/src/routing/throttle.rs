//! Per-key minimum-interval limiter ("at most one X per key per interval"),
//! used for routing errors (100 ms per destination), discovery forwarding
//! (2 s per target), CoordsWarmup replies (2 s) and ICMPv6 PTB (100 ms per
//! source). Bounded: when full, expired keys are dropped first and, if that
//! is not enough, the request is refused rather than growing the map.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Throttle<K> {
    interval: Duration,
    capacity: usize,
    last: HashMap<K, Instant>,
}

impl<K: Hash + Eq + Copy> Throttle<K> {
    pub fn new(interval: Duration, capacity: usize) -> Self {
        Throttle {
            interval,
            capacity,
            last: HashMap::new(),
        }
    }

    /// Whether an event for `key` may happen now; if so, records it.
    pub fn allow(&mut self, now: Instant, key: K) -> bool {
        if let Some(t) = self.last.get_mut(&key) {
            if now.saturating_duration_since(*t) < self.interval {
                return false;
            }
            *t = now;
            return true;
        }
        if self.last.len() >= self.capacity {
            self.purge(now);
            if self.last.len() >= self.capacity {
                return false;
            }
        }
        self.last.insert(key, now);
        true
    }

    /// Whether an event for `key` now would be refused for its interval
    /// (records nothing).
    pub fn held(&self, now: Instant, key: &K) -> bool {
        self.last
            .get(key)
            .is_some_and(|t| now.saturating_duration_since(*t) < self.interval)
    }

    /// Forgets keys whose interval has passed.
    pub fn purge(&mut self, now: Instant) {
        let interval = self.interval;
        self.last
            .retain(|_, t| now.saturating_duration_since(*t) < interval);
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_one_event_per_key_per_interval() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_millis(100), 8);
        assert!(t.allow(t0, 1));
        assert!(!t.allow(t0 + Duration::from_millis(99), 1));
        assert!(t.allow(t0 + Duration::from_millis(5), 2));
        assert!(t.allow(t0 + Duration::from_millis(100), 1));
    }

    #[test]
    fn refuses_new_keys_when_full_of_live_entries() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(2), 2);
        assert!(t.allow(t0, 1));
        assert!(t.allow(t0, 2));
        assert!(!t.allow(t0, 3));
        assert!(
            t.allow(t0 + Duration::from_secs(2), 3),
            "expired keys make room"
        );
        assert!(t.len() <= 2);
    }
}
