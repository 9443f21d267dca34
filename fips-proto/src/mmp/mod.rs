//! Metrics measurement protocol: receiver reports, RTT, loss and link cost.
