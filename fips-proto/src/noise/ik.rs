//! Noise IK for FMP links. The initiator knows the
//! responder's static key; msg1 (106 bytes) carries the initiator's
//! ephemeral key, its encrypted static key and epoch; msg2 (57 bytes) the
//! responder's ephemeral key and encrypted epoch.
//!
//! msg1 = e (33) || Enc(s, 33+16) || Enc(epoch, 8+16)
//! msg2 = e (33) || Enc(epoch, 8+16)

use zeroize::Zeroizing;

use super::symmetric::{dh, parse_point, public_of, SymmetricState};
use super::{Epoch, NoiseError, Transport, IK_MSG1_LEN, IK_MSG2_LEN, IK_PROTOCOL_NAME};
use crate::identity::{Identity, PeerIdentity};

/// Waiting for msg2.
pub struct IkInitiator {
    state: SymmetricState,
    eph: Zeroizing<[u8; 32]>,
    remote: PeerIdentity,
}

/// Starts a link handshake to `remote`, returning the state and msg1.
pub fn ik_initiate(
    local: &Identity,
    remote: &PeerIdentity,
    eph: [u8; 32],
    epoch: Epoch,
) -> Result<(IkInitiator, [u8; IK_MSG1_LEN]), NoiseError> {
    let eph = Zeroizing::new(eph);
    let rs = remote.public_key();
    let mut st = SymmetricState::new(IK_PROTOCOL_NAME);
    st.mix_premessage(&remote.xonly());
    let mut msg = [0u8; IK_MSG1_LEN];
    msg[..33].copy_from_slice(&public_of(&eph)?);
    st.mix_hash(&msg[..33]);
    st.mix_key(dh(&eph, &rs)?);
    st.encrypt_and_hash(&local.public().compressed(), &mut msg[33..82]);
    st.mix_key(dh(local.secret_bytes(), &rs)?);
    st.encrypt_and_hash(&epoch, &mut msg[82..]);
    Ok((
        IkInitiator {
            state: st,
            eph,
            remote: *remote,
        },
        msg,
    ))
}

impl IkInitiator {
    pub fn remote(&self) -> &PeerIdentity {
        &self.remote
    }

    /// Completes the handshake; returns the keys and the responder's epoch.
    pub fn read_msg2(mut self, msg2: &[u8; IK_MSG2_LEN]) -> Result<(Transport, Epoch), NoiseError> {
        let re = parse_point(&msg2[..33], "responder ephemeral key")?;
        let st = &mut self.state;
        st.mix_hash(&msg2[..33]);
        st.mix_key(dh(&self.eph, &re)?);
        st.mix_key(dh(&self.eph, &self.remote.public_key())?);
        let mut epoch = [0u8; 8];
        st.decrypt_and_hash(&msg2[33..], &mut epoch, "msg2 epoch")?;
        let (k1, k2) = st.split();
        Ok((Transport::from_split(true, k1, k2), epoch))
    }
}

/// msg1 decrypted: the initiator is known, msg2 not yet written.
pub struct IkResponder {
    state: SymmetricState,
    local_secret: Zeroizing<[u8; 32]>,
    re: secp256k1::PublicKey,
    remote: PeerIdentity,
    remote_epoch: Epoch,
}

/// Reads msg1 with our static key, learning who is calling.
pub fn ik_respond(local: &Identity, msg1: &[u8; IK_MSG1_LEN]) -> Result<IkResponder, NoiseError> {
    let re = parse_point(&msg1[..33], "initiator ephemeral key")?;
    let mut st = SymmetricState::new(IK_PROTOCOL_NAME);
    st.mix_premessage(&local.public().xonly());
    st.mix_hash(&msg1[..33]);
    st.mix_key(dh(local.secret_bytes(), &re)?);
    let mut rs = [0u8; 33];
    st.decrypt_and_hash(&msg1[33..82], &mut rs, "msg1 static key")?;
    let remote = PeerIdentity::from_compressed(&rs)
        .map_err(|source| NoiseError::InvalidStaticKey { source })?;
    st.mix_key(dh(local.secret_bytes(), &remote.public_key())?);
    let mut remote_epoch = [0u8; 8];
    st.decrypt_and_hash(&msg1[82..], &mut remote_epoch, "msg1 epoch")?;
    Ok(IkResponder {
        state: st,
        local_secret: Zeroizing::new(*local.secret_bytes()),
        re,
        remote,
        remote_epoch,
    })
}

impl IkResponder {
    pub fn remote(&self) -> &PeerIdentity {
        &self.remote
    }

    pub fn remote_epoch(&self) -> Epoch {
        self.remote_epoch
    }

    /// Writes msg2 and completes the handshake.
    pub fn write_msg2(
        mut self,
        eph: [u8; 32],
        epoch: Epoch,
    ) -> Result<(Transport, [u8; IK_MSG2_LEN]), NoiseError> {
        let eph = Zeroizing::new(eph);
        let st = &mut self.state;
        let mut msg = [0u8; IK_MSG2_LEN];
        msg[..33].copy_from_slice(&public_of(&eph)?);
        st.mix_hash(&msg[..33]);
        st.mix_key(dh(&eph, &self.re)?);
        st.mix_key(dh(&self.local_secret, &self.re)?);
        st.encrypt_and_hash(&epoch, &mut msg[33..]);
        let (k1, k2) = st.split();
        Ok((Transport::from_split(false, k1, k2), msg))
    }
}

debug_remote_only!(IkInitiator, IkResponder);
