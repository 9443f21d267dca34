//! Node identities: secret keys, npub/nsec, NodeAddr derivation, BIP-340 signatures.
