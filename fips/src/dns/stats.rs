//! Responses of the `.fips` DNS server by response code, for the metrics
//! server. Process-wide atomics: the DNS tasks count, a scrape reads.

use std::sync::atomic::{AtomicU64, Ordering};

use hickory_server::proto::op::ResponseCode;

/// The codes this server sends, by name; anything else (an upstream's
/// answer with a rarer code) is counted as `other`.
const CODES: [(u16, &str); 7] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (16, "BADVERS"),
];

static RESPONSES: [AtomicU64; CODES.len() + 1] = [const { AtomicU64::new(0) }; CODES.len() + 1];

/// Counts one response sent with `rcode`.
pub(crate) fn count(rcode: ResponseCode) {
    let code = u16::from(rcode);
    let slot = CODES
        .iter()
        .position(|(c, _)| *c == code)
        .unwrap_or(CODES.len());
    RESPONSES[slot].fetch_add(1, Ordering::Relaxed);
}

/// Responses sent since start, by code name (every name, zeros too).
pub fn responses() -> Vec<(&'static str, u64)> {
    CODES
        .iter()
        .map(|(_, name)| *name)
        .chain(["other"])
        .zip(&RESPONSES)
        .map(|(name, n)| (name, n.load(Ordering::Relaxed)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(name: &str) -> u64 {
        responses()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| v)
    }

    #[test]
    fn responses_are_counted_under_their_code_name() {
        let (refused, other) = (get("REFUSED"), get("other"));
        count(ResponseCode::Refused);
        count(ResponseCode::Unknown(3841));
        assert!(get("REFUSED") > refused);
        assert!(get("other") > other);
        assert_eq!(responses().len(), CODES.len() + 1);
    }
}
