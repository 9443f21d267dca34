//! Unit tests of the userspace side that need no kernel: the snapshot's
//! JSON and table, and how syscall errors become user-facing advice.

use super::error::{attach_err, bpf_err, EnforceError};
use super::snapshot::{CounterEntry, FirewallSnapshot, LinkEntry, XdpEntry};
use super::tripwire::PacketSocket;
use super::PinLifetime;
use std::io;

fn sample() -> FirewallSnapshot {
    FirewallSnapshot {
        interface: "eth0".into(),
        pin_dir: "/sys/fs/bpf/fips/4026531840/eth0".into(),
        attached: true,
        links: vec![LinkEntry {
            direction: "egress".into(),
            link_id: 7,
            program_id: 42,
        }],
        xdp: Some(XdpEntry {
            mode: super::XdpMode::Native,
            attached: true,
            link_id: 8,
            program_id: 43,
        }),
        egress_backstop: true,
        udp_port: 2121,
        allow_ipv6: false,
        socket_cookies: vec![4097],
        passed_packets: 10,
        dropped_packets: 3,
        drop_events_suppressed: 0,
        counters: vec![
            CounterEntry {
                direction: "egress".into(),
                reason: "passed".into(),
                verdict: "pass".into(),
                packets: 10,
                bytes: 1400,
            },
            CounterEntry {
                direction: "egress".into(),
                reason: "not-udp".into(),
                verdict: "drop".into(),
                packets: 0,
                bytes: 0,
            },
            CounterEntry {
                direction: "ingress".into(),
                reason: "wrong-port".into(),
                verdict: "drop".into(),
                packets: 3,
                bytes: 180,
            },
        ],
        pinned: Some(PinLifetime::FailClosed),
        packet_sockets: Vec::new(),
        packet_sockets_seen: 0,
        msg1_gate: None,
    }
}

#[test]
fn snapshot_json_round_trips_with_stable_field_names() {
    let snap = sample();
    let json = serde_json::to_value(&snap).expect("serialize");
    assert_eq!(json["udp_port"], 2121);
    assert_eq!(json["counters"][2]["reason"], "wrong-port");
    assert_eq!(json["links"][0]["program_id"], 42);
    assert_eq!(json["xdp"]["mode"], "native");
    let back: FirewallSnapshot = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, snap);
}

#[test]
fn table_lists_nonzero_counters_only() {
    let table = sample().render_table();
    assert!(table.contains("udp port 2121"), "{table}");
    assert!(
        table.contains("passed 10 packets, dropped 3 packets"),
        "{table}"
    );
    assert!(table.contains("wrong-port"), "{table}");
    assert!(!table.contains("not-udp"), "{table}");
    assert!(
        table.contains("xdp before ingress: native mode (link 8)"),
        "{table}"
    );
    assert!(
        table.contains("netfilter egress backstop: installed"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 9, "{table}");
}

#[test]
fn table_says_whether_the_filter_outlives_the_daemon() {
    let mut snap = sample();
    let table = snap.render_table();
    assert!(table.contains("pinned: fail-closed"), "{table}");
    snap.pinned = Some(PinLifetime::UntilExit);
    let table = snap.render_table();
    assert!(table.contains("pinned: until exit"), "{table}");
    assert!(table.contains("bpffs volume"), "{table}");
    let json = serde_json::to_value(&snap).expect("serialize");
    assert_eq!(json["pinned"], "until exit");
}

#[test]
fn table_counts_packet_sockets_and_names_an_open_one_with_the_fix() {
    let mut snap = sample();
    assert!(snap
        .render_table()
        .contains("packet sockets: none open (0 seen)"));
    snap.packet_sockets = vec![PacketSocket {
        inode: 4242,
        kind: "raw".into(),
        protocol: "0x0003".into(),
        interface: "eth0".into(),
        uid: 0,
        pid: None,
        process: None,
    }];
    snap.packet_sockets_seen = 2;
    let table = snap.render_table();
    for part in ["1 OPEN (2 seen)", "cap_drop: [NET_RAW]", "inode 4242"] {
        assert!(table.contains(part), "{table}");
    }
    let json = serde_json::to_value(&snap).expect("serialize");
    assert_eq!(json["packet_sockets"][0]["type"], "raw");
    assert_eq!(json["packet_sockets_seen"], 2);
}

#[test]
fn a_snapshot_without_an_xdp_field_still_reads() {
    let mut json = serde_json::to_value(sample()).expect("serialize");
    json.as_object_mut().expect("object").remove("xdp");
    let back: FirewallSnapshot = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back.xdp, None);
    assert!(back.render_table().contains("xdp before ingress: none"));
}

#[test]
fn snapshot_looks_up_packets_by_direction_and_reason() {
    use fips_common::{Direction, Reason};
    let snap = sample();
    assert_eq!(snap.packets(Direction::Ingress, Reason::WrongPort), 3);
    assert_eq!(snap.packets(Direction::Egress, Reason::WrongPort), 0);
}

#[derive(Debug, thiserror::Error)]
#[error("outer")]
struct Outer(#[source] io::Error);

#[test]
fn eperm_anywhere_in_the_cause_chain_names_cap_bpf_and_the_fix() {
    let err = bpf_err("loading")(Outer(io::Error::from_raw_os_error(libc::EPERM)));
    assert!(matches!(err, EnforceError::Permission { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("CAP_BPF") && text.contains("cap_add: [NET_ADMIN, BPF]"),
        "{text}"
    );
    assert!(
        text.contains("Docker Engine 23") && text.contains("seccomp"),
        "{text}"
    );
}

#[test]
fn einval_on_attach_says_the_kernel_lacks_tcx() {
    let err = attach_err("attaching")(io::Error::from_raw_os_error(libc::EINVAL));
    assert!(matches!(err, EnforceError::KernelTooOld { .. }), "{err:?}");
    assert!(err.to_string().contains("Linux 6.6"), "{err}");
}

#[test]
fn other_errors_keep_their_cause() {
    let err = bpf_err("reading")(io::Error::from_raw_os_error(libc::ENOMEM));
    let source = std::error::Error::source(&err).expect("source kept");
    assert!(source.to_string().contains("memory"), "{source}");
}

#[test]
fn missing_interface_is_reported_by_name() {
    let err = super::interface_index("fe-none0").expect_err("no such interface");
    assert_eq!(
        err.to_string(),
        "interface \"fe-none0\" does not exist in this network namespace"
    );
}

#[test]
fn a_verifier_rejection_is_not_reported_as_missing_capabilities() {
    let log = "0: (bf) r6 = r1\nR5 tried to add from different maps, pointer arithmetic prohibited for !root\n";
    let err = bpf_err("loading the classifier program")(aya::programs::ProgramError::LoadError {
        io_error: io::Error::from_raw_os_error(libc::EACCES),
        verifier_log: aya_obj::VerifierLog::new(log.into()),
    });
    assert!(matches!(err, EnforceError::Verifier { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("prohibited for !root") && text.contains("CAP_PERFMON"),
        "{text}"
    );
    assert!(!text.contains("cap_add"), "{text}");
}

#[test]
fn an_empty_verifier_log_with_eperm_means_missing_capabilities() {
    let err = bpf_err("loading the classifier program")(aya::programs::ProgramError::LoadError {
        io_error: io::Error::from_raw_os_error(libc::EPERM),
        verifier_log: aya_obj::VerifierLog::new(String::new()),
    });
    assert!(matches!(err, EnforceError::Permission { .. }), "{err:?}");
}

#[test]
fn table_shows_the_msg1_gate_and_json_names_its_fields() {
    let mut snap = sample();
    snap.msg1_gate = Some(super::Msg1GateEntry {
        per_source_per_sec: 8,
        per_source_burst: 32,
        sources_tracked: 64,
        sources_cap: 8192,
        known_peers: 2,
        known_cap: 1024,
        known_over_cap: 0,
    });
    let table = snap.render_table();
    assert!(
        table.contains(
            "xdp msg1 gate: 8/s per unknown source (burst 32), 64/8192 sources tracked, \
             2/1024 known peer addresses exempt\n"
        ),
        "{table}"
    );
    let json = serde_json::to_value(&snap).expect("serialize");
    assert_eq!(json["msg1_gate"]["known_peers"], 2);
    assert_eq!(json["msg1_gate"]["sources_tracked"], 64);
    let back: FirewallSnapshot = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, snap);
}
