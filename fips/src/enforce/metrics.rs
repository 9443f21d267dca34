//! The metrics server's hole in the filter: its TCP port in the policy
//! map, and the set of its connections' socket cookies (`FIPS_METRICS`)
//! the classifier lets out on egress.
//!
//! Owns writing the port and the cookie set; the verdict itself is
//! `fips-ebpf/src/metrics.rs`, the netfilter backstop's rule is in
//! `backstop.rs`. It must not open anything while no metrics port is set.

use super::error::{bpf_err, EnforceError};
use super::loader::Classifier;
use aya::maps::{Array, HashMap, MapData};
use fips_common::{MAP_METRICS_CONNS, MAP_POLICY};

impl Classifier {
    /// Opens TCP `port` (inbound to it, outbound from the registered
    /// connections) in the loaded classifier's policy; 0 closes it.
    pub fn set_metrics_port(&mut self, port: u16) -> Result<(), EnforceError> {
        let mut array: Array<_, fips_common::Policy> =
            Array::try_from(self.map_mut(MAP_POLICY)?)
                .map_err(bpf_err("opening the policy map"))?;
        let mut policy = array
            .get(&0, 0)
            .map_err(bpf_err("reading the policy map"))?;
        policy.metrics_port = port;
        array
            .set(0, policy, 0)
            .map_err(bpf_err("writing the policy map"))
    }

    /// Takes the cookie set of the metrics connections (once).
    pub fn metrics_conns(&mut self) -> Result<MetricsConns, EnforceError> {
        let map = self.take_map(MAP_METRICS_CONNS)?;
        let set = HashMap::try_from(map).map_err(bpf_err("opening the metrics connection map"))?;
        Ok(MetricsConns { set })
    }
}

/// The metrics connections whose packets may leave eth0, by socket cookie
/// (`SO_COOKIE`). The map holds at most `fips_common::MAX_METRICS_CONNS`.
pub struct MetricsConns {
    set: HashMap<MapData, u64, u8>,
}

impl MetricsConns {
    /// Lets the socket with `cookie` send; fails when the map is full.
    pub fn insert(&mut self, cookie: u64) -> Result<(), EnforceError> {
        self.set
            .insert(cookie, 1, 0)
            .map_err(bpf_err("adding a metrics connection"))
    }

    /// Stops letting the socket with `cookie` send (absent is fine).
    pub fn remove(&mut self, cookie: u64) {
        // ENOENT is the only failure of a delete by key; nothing to do then.
        let _absent = self.set.remove(&cookie);
    }

    /// How many cookies the map holds now.
    pub fn len(&self) -> usize {
        self.set.keys().filter(Result::is_ok).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
