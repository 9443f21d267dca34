//! Control socket: JSON-lines request and response types shared by the daemon and fipsctl.
