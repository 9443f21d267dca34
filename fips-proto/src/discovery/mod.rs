//! Discovery: LookupRequest/LookupResponse origination, answering and forwarding state.
