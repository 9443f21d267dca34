//! The node state machine: links, tree, bloom and sessions driven by inputs and time.
