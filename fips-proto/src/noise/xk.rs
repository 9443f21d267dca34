//! Noise XK for FSP end-to-end sessions. The initiator
//! knows the responder's static key; the responder learns the initiator's
//! only from msg3.
//!
//! msg1 = e (33)
//! msg2 = e (33) || Enc(epoch, 8+16)
//! msg3 = Enc(s, 33+16) [same key as msg2, nonce 1] || Enc(epoch, 8+16)

use core::fmt;

use secp256k1::PublicKey;
use zeroize::Zeroizing;

use super::symmetric::{dh, parse_point, public_of, SymmetricState};
use super::{
    Epoch, NoiseError, Transport, XK_MSG1_LEN, XK_MSG2_LEN, XK_MSG3_LEN, XK_PROTOCOL_NAME,
};
use crate::identity::{Identity, PeerIdentity};

/// msg1 sent, waiting for msg2.
pub struct XkInitiator {
    state: SymmetricState,
    eph: Zeroizing<[u8; 32]>,
    local_secret: Zeroizing<[u8; 32]>,
    local_public: [u8; 33],
    remote: PeerIdentity,
}

/// Starts a session handshake to `remote`, returning the state and msg1.
pub fn xk_initiate(
    local: &Identity,
    remote: &PeerIdentity,
    eph: [u8; 32],
) -> Result<(XkInitiator, [u8; XK_MSG1_LEN]), NoiseError> {
    let eph = Zeroizing::new(eph);
    let mut st = SymmetricState::new(XK_PROTOCOL_NAME);
    st.mix_premessage(&remote.xonly());
    let msg = public_of(&eph)?;
    st.mix_hash(&msg);
    st.mix_key(dh(&eph, &remote.public_key())?);
    let init = XkInitiator {
        state: st,
        eph,
        local_secret: Zeroizing::new(*local.secret_bytes()),
        local_public: local.public().compressed(),
        remote: *remote,
    };
    Ok((init, msg))
}

impl XkInitiator {
    pub fn remote(&self) -> &PeerIdentity {
        &self.remote
    }

    /// Reads msg2 and writes msg3; returns the keys, msg3 and the responder's epoch.
    pub fn read_msg2(
        mut self,
        msg2: &[u8; XK_MSG2_LEN],
        epoch: Epoch,
    ) -> Result<(Transport, [u8; XK_MSG3_LEN], Epoch), NoiseError> {
        let re = parse_point(&msg2[..33], "responder ephemeral key")?;
        let st = &mut self.state;
        st.mix_hash(&msg2[..33]);
        st.mix_key(dh(&self.eph, &re)?);
        let mut remote_epoch = [0u8; 8];
        st.decrypt_and_hash(&msg2[33..], &mut remote_epoch, "msg2 epoch")?;
        let mut msg3 = [0u8; XK_MSG3_LEN];
        st.encrypt_and_hash(&self.local_public, &mut msg3[..49]);
        st.mix_key(dh(&self.local_secret, &re)?);
        st.encrypt_and_hash(&epoch, &mut msg3[49..]);
        let (k1, k2) = st.split();
        Ok((Transport::from_split(true, k1, k2), msg3, remote_epoch))
    }
}

/// msg2 sent, waiting for msg3 (which reveals the initiator).
pub struct XkResponder {
    state: SymmetricState,
    eph: Zeroizing<[u8; 32]>,
}

/// Reads msg1 and writes msg2.
pub fn xk_respond(
    local: &Identity,
    msg1: &[u8; XK_MSG1_LEN],
    eph: [u8; 32],
    epoch: Epoch,
) -> Result<(XkResponder, [u8; XK_MSG2_LEN]), NoiseError> {
    let eph = Zeroizing::new(eph);
    let re: PublicKey = parse_point(msg1, "initiator ephemeral key")?;
    let mut st = SymmetricState::new(XK_PROTOCOL_NAME);
    st.mix_premessage(&local.public().xonly());
    st.mix_hash(msg1);
    st.mix_key(dh(local.secret_bytes(), &re)?);
    let mut msg = [0u8; XK_MSG2_LEN];
    msg[..33].copy_from_slice(&public_of(&eph)?);
    st.mix_hash(&msg[..33]);
    st.mix_key(dh(&eph, &re)?);
    st.encrypt_and_hash(&epoch, &mut msg[33..]);
    Ok((XkResponder { state: st, eph }, msg))
}

impl XkResponder {
    /// Reads msg3; returns the keys, the initiator's identity and epoch.
    pub fn read_msg3(
        mut self,
        msg3: &[u8; XK_MSG3_LEN],
    ) -> Result<(Transport, PeerIdentity, Epoch), NoiseError> {
        let st = &mut self.state;
        let mut rs = [0u8; 33];
        st.decrypt_and_hash(&msg3[..49], &mut rs, "msg3 static key")?;
        let remote = PeerIdentity::from_compressed(&rs)
            .map_err(|source| NoiseError::InvalidStaticKey { source })?;
        st.mix_key(dh(&self.eph, &remote.public_key())?);
        let mut epoch = [0u8; 8];
        st.decrypt_and_hash(&msg3[49..], &mut epoch, "msg3 epoch")?;
        let (k1, k2) = st.split();
        Ok((Transport::from_split(false, k1, k2), remote, epoch))
    }
}

impl fmt::Debug for XkResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XkResponder { .. }")
    }
}

debug_remote_only!(XkInitiator);
