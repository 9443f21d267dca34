//! Field-for-field conversions between wire messages and the plain data
//! types of `tree` and `mmp`, so the node maps them in one call and the
//! mapping is tested once, here.

use super::coords::Coords;
use super::mmp::ReceiverReport;
use super::tree::{AncestryEntry, TreeAnnounce};
use crate::addr::NodeAddr;
use crate::mmp::ReportFields;
use crate::tree::{Announce, CoordEntry};

impl TreeAnnounce {
    /// The wire form of an announce the caller has signed over
    /// `announce.declaration_bytes()`.
    pub fn from_announce(announce: &Announce, signature: [u8; 64]) -> TreeAnnounce {
        TreeAnnounce {
            seq: announce.seq,
            timestamp: announce.ts,
            parent: announce.parent,
            ancestry: announce
                .ancestry
                .iter()
                .map(|e| AncestryEntry {
                    node_addr: e.node,
                    seq: e.seq,
                    timestamp: e.ts,
                })
                .collect(),
            signature,
        }
    }

    /// The tree's view of a received announce (version and signature dropped).
    pub fn to_announce(&self) -> Announce {
        Announce {
            seq: self.seq,
            ts: self.timestamp,
            parent: self.parent,
            ancestry: self
                .ancestry
                .iter()
                .map(|e| CoordEntry {
                    node: e.node_addr,
                    seq: e.seq,
                    ts: e.timestamp,
                })
                .collect(),
        }
    }
}

impl From<ReportFields> for ReceiverReport {
    fn from(f: ReportFields) -> ReceiverReport {
        ReceiverReport {
            highest_counter: f.highest_counter,
            cumulative_packets_recv: f.cumulative_packets,
            cumulative_bytes_recv: f.cumulative_bytes,
            timestamp_echo: f.timestamp_echo,
            dwell_time: f.dwell_ms,
            max_burst_loss: f.max_burst,
            mean_burst_loss: f.mean_burst,
            jitter: f.jitter_us,
            ecn_ce_count: f.ecn_ce,
            owd_trend: f.owd_trend,
            burst_loss_count: f.burst_count,
            cumulative_reorder_count: f.reorder,
            interval_packets_recv: f.interval_packets,
            interval_bytes_recv: f.interval_bytes,
        }
    }
}

impl From<ReceiverReport> for ReportFields {
    fn from(r: ReceiverReport) -> ReportFields {
        ReportFields {
            highest_counter: r.highest_counter,
            cumulative_packets: r.cumulative_packets_recv,
            cumulative_bytes: r.cumulative_bytes_recv,
            timestamp_echo: r.timestamp_echo,
            dwell_ms: r.dwell_time,
            max_burst: r.max_burst_loss,
            mean_burst: r.mean_burst_loss,
            jitter_us: r.jitter,
            ecn_ce: r.ecn_ce_count,
            owd_trend: r.owd_trend,
            burst_count: r.burst_loss_count,
            reorder: r.cumulative_reorder_count,
            interval_packets: r.interval_packets_recv,
            interval_bytes: r.interval_bytes_recv,
        }
    }
}

impl From<Vec<NodeAddr>> for Coords {
    fn from(v: Vec<NodeAddr>) -> Coords {
        Coords(v)
    }
}

impl From<Coords> for Vec<NodeAddr> {
    fn from(c: Coords) -> Vec<NodeAddr> {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::vectors::kat;

    #[test]
    fn kat_announce_survives_the_trip_through_the_tree_type() {
        let wire = kat(
            "tree_announce_B_child_of_A",
            "encoded_link_message_incl_msg_type",
        );
        let t = TreeAnnounce::parse(&wire).unwrap();
        let a = t.to_announce();
        assert_eq!(a.declaration_bytes(), t.declaration_bytes());
        let back = TreeAnnounce::from_announce(&a, t.signature);
        let mut out = Vec::new();
        back.emit(&mut out);
        assert_eq!(out, wire);
    }

    #[test]
    fn receiver_report_fields_map_one_to_one() {
        let f = ReportFields {
            highest_counter: 1,
            cumulative_packets: 2,
            cumulative_bytes: 3,
            timestamp_echo: 4,
            dwell_ms: 5,
            max_burst: 6,
            mean_burst: 7,
            jitter_us: 8,
            ecn_ce: 9,
            owd_trend: -10,
            burst_count: 11,
            reorder: 12,
            interval_packets: 13,
            interval_bytes: 14,
        };
        let rr = ReceiverReport::from(f);
        let mut out = Vec::new();
        rr.emit(&mut out);
        // Spot-check the wire offsets of two fields the RTT depends on.
        assert_eq!(&out[28..32], &4u32.to_le_bytes());
        assert_eq!(&out[32..34], &5u16.to_le_bytes());
        assert_eq!(ReportFields::from(rr), f);
    }
}
