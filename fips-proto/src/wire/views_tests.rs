//! Both directions of the TreeAnnounce, FilterAnnounce, Lookup and MMP
//! views against the link messages decrypted from reference captures, and
//! what they do with truncated and oversized input.

use super::filter::{FilterAnnounce, FilterAnnounceView};
use super::lookup::{LookupRequest, LookupRequestView, LookupResponse, LookupResponseView};
use super::mmp::{Form, ReceiverReport, ReceiverReportView, SenderReport, SenderReportView};
use super::tree::{TreeAnnounce, TreeAnnounceView};
use super::vectors::capture_frames;
use super::WireError;

/// Parses a link message of one of the view-backed types and emits it
/// again; `None` for other types.
fn reencode(msg: &[u8]) -> Option<Result<Vec<u8>, WireError>> {
    fn go<V>(
        msg: &[u8],
        parse: fn(&[u8]) -> Result<V, WireError>,
        emit: fn(&V, &mut Vec<u8>),
    ) -> Result<Vec<u8>, WireError> {
        let v = parse(msg)?;
        let mut out = Vec::new();
        emit(&v, &mut out);
        Ok(out)
    }
    Some(match *msg.first()? {
        0x01 => go(msg, SenderReport::parse, SenderReport::emit),
        0x02 => go(msg, ReceiverReport::parse, ReceiverReport::emit),
        0x10 => go(msg, TreeAnnounce::parse, TreeAnnounce::emit),
        0x20 => go(msg, FilterAnnounce::parse, FilterAnnounce::emit),
        0x30 => go(msg, LookupRequest::parse, LookupRequest::emit),
        0x31 => go(msg, LookupResponse::parse, LookupResponse::emit),
        _ => return None,
    })
}

/// Captured link messages (timestamp stripped) of the view-backed types.
fn captured() -> Vec<(String, Vec<u8>)> {
    let out: Vec<_> = capture_frames()
        .into_iter()
        .filter(|(_, ty, _, _)| {
            ["0x01", "0x02", "0x10", "0x20", "0x30", "0x31"].contains(&ty.as_str())
        })
        .map(|(run, ty, _, pt)| (format!("{run} {ty}"), pt[4..].to_vec()))
        .collect();
    assert!(
        out.len() >= 25,
        "every run has reports, announces and a lookup"
    );
    out
}

#[test]
fn every_captured_announce_lookup_and_report_emits_back_to_its_bytes() {
    for (name, msg) in captured() {
        let out = reencode(&msg).expect("a view-backed type");
        assert_eq!(out.as_deref(), Ok(&msg[..]), "{name}");
        // And the other way: the re-emitted bytes parse to the same value.
        assert_eq!(
            reencode(&out.unwrap()).unwrap().as_deref(),
            Ok(&msg[..]),
            "{name}"
        );
    }
}

#[test]
fn every_truncation_of_a_captured_message_is_an_error_not_a_panic() {
    for (name, msg) in captured() {
        for len in 0..msg.len() {
            let got = reencode(&msg[..len]).unwrap_or(Err(WireError::Truncated {
                what: "empty",
                need: 1,
                got: 0,
            }));
            assert!(got.is_err(), "{name} cut to {len} bytes parsed");
        }
    }
}

#[test]
fn trailing_bytes_are_ignored_except_after_a_fixed_size_filter() {
    for (name, msg) in captured() {
        let mut long = msg.clone();
        long.extend_from_slice(&[0xa5; 300]);
        let got = reencode(&long).expect("a view-backed type");
        if msg[0] == 0x20 {
            assert_eq!(
                got,
                Err(WireError::BadLength {
                    what: "FilterAnnounce",
                    expected: 1035,
                    got: 1335
                })
            );
        } else {
            assert_eq!(got.as_deref(), Ok(&msg[..]), "{name}");
        }
    }
}

#[test]
fn views_read_the_same_fields_as_the_values() {
    for (name, msg) in captured() {
        match msg[0] {
            0x01 => {
                let v = SenderReportView::new_checked(&msg, Form::Link).unwrap();
                assert_eq!(Ok(v.to_value()), SenderReport::parse(&msg), "{name}");
            }
            0x02 => {
                let v = ReceiverReportView::new_checked(&msg, Form::Link).unwrap();
                assert_eq!(
                    Some(v.highest_counter()),
                    ReceiverReport::parse(&msg).ok().map(|r| r.highest_counter)
                );
            }
            0x10 => {
                let v = TreeAnnounceView::new_checked(&msg).unwrap();
                let t = TreeAnnounce::parse(&msg).unwrap();
                assert_eq!(
                    (v.seq(), v.parent(), v.entry(0)),
                    (t.seq, t.parent, t.ancestry[0])
                );
                assert_eq!(v.signature(), t.signature);
            }
            0x20 => {
                let v = FilterAnnounceView::new_checked(&msg).unwrap();
                assert_eq!(v.filter(), &FilterAnnounce::parse(&msg).unwrap().filter[..]);
            }
            0x30 => {
                let v = LookupRequestView::new_checked(&msg).unwrap();
                assert_eq!(
                    v.origin_coords(),
                    LookupRequest::parse(&msg).unwrap().origin_coords
                );
            }
            _ => {
                let v = LookupResponseView::new_checked(&msg).unwrap();
                assert_eq!(v.proof(), LookupResponse::parse(&msg).unwrap().proof);
            }
        }
    }
}

#[test]
fn a_transit_hop_lowers_lookup_ttl_and_path_mtu_in_place() {
    for (name, mut msg) in captured() {
        let before = msg.clone();
        match msg[0] {
            0x30 => {
                let mut v = LookupRequestView::new_checked(&mut msg[..]).unwrap();
                let ttl = v.ttl();
                v.set_ttl(ttl - 1);
                assert_eq!(LookupRequest::parse(&msg).unwrap().ttl, ttl - 1, "{name}");
            }
            0x31 => {
                let mut v = LookupResponseView::new_checked(&mut msg[..]).unwrap();
                v.set_path_mtu(1200);
                assert_eq!(
                    LookupResponse::parse(&msg).unwrap().path_mtu,
                    1200,
                    "{name}"
                );
            }
            _ => continue,
        }
        let changed = before.iter().zip(&msg).filter(|(a, b)| a != b).count();
        assert!((1..=2).contains(&changed), "{name}: only the field changes");
    }
}

#[test]
fn captured_reports_round_trip_through_the_session_form() {
    for (name, msg) in captured() {
        let mut session = Vec::new();
        match msg[0] {
            0x01 => SenderReport::parse(&msg)
                .unwrap()
                .emit_session(&mut session),
            0x02 => ReceiverReport::parse(&msg)
                .unwrap()
                .emit_session(&mut session),
            _ => continue,
        }
        assert_eq!(
            &session[2..],
            &msg[4..],
            "{name}: same fields after the framing"
        );
        let back = if msg[0] == 0x01 {
            SenderReportView::new_checked(&session, Form::Session).map(|_| ())
        } else {
            ReceiverReportView::new_checked(&session, Form::Session).map(|_| ())
        };
        assert_eq!(back, Ok(()), "{name}");
        assert!(SenderReport::parse_session(&session[..session.len() - 23]).is_err());
    }
}

#[test]
fn fsp_errors_round_trip_and_every_truncation_is_an_error() {
    use super::fsp_error::FspError;
    use super::Coords;
    use crate::addr::NodeAddr;
    let (dest, reporter) = (NodeAddr([1; 16]), NodeAddr([2; 16]));
    let errors = [
        FspError::CoordsRequired { dest, reporter },
        FspError::PathBroken {
            dest,
            reporter,
            last_coords: Coords(vec![NodeAddr([3; 16]), NodeAddr([4; 16])]),
        },
        FspError::MtuExceeded {
            dest,
            reporter,
            mtu: 1203,
        },
    ];
    for e in errors {
        let mut out = Vec::new();
        e.emit(&mut out);
        assert_eq!(out.len(), e.encoded_len());
        assert_eq!(FspError::parse(&out), Ok(e.clone()));
        let mut again = Vec::new();
        FspError::parse(&out).unwrap().emit(&mut again);
        assert_eq!(again, out);
        for len in 0..out.len() {
            assert!(FspError::parse(&out[..len]).is_err(), "{e:?} cut to {len}");
        }
    }
}

#[test]
fn inner_and_data_headers_round_trip_through_their_views() {
    use super::fsp_inner::{Data, DataView, FspInner, FspInnerView};
    let mut pt = Vec::new();
    super::fsp_inner::emit_header(0x0102_0304, 0x10, 1, &mut pt);
    Data::emit_header(256, 257, &mut pt);
    pt.extend_from_slice(b"payload");
    let inner = FspInnerView::new_checked(&pt[..]).unwrap();
    assert_eq!(
        (inner.timestamp_ms(), inner.msg_type(), inner.inner_flags()),
        (0x0102_0304, 0x10, 1)
    );
    let data = DataView::new_checked(inner.body()).unwrap();
    assert_eq!(
        (data.src_port(), data.dst_port(), data.payload()),
        (256, 257, &b"payload"[..])
    );
    let value = FspInner::parse(&pt).unwrap();
    let mut out = Vec::new();
    value.emit(&mut out);
    assert_eq!(out, pt);
    for len in 0..FspInner::HEADER_LEN {
        assert!(FspInner::parse(&pt[..len]).is_err());
    }
}
