//! The box stream: encrypted, authenticated framing of each direction after the handshake.

/// The key and starting nonce of one direction of a box stream, as the handshake derives them.
#[derive(Clone, PartialEq, Eq)]
pub struct BoxKey {
    /// The secretbox key.
    pub key: [u8; 32],
    /// The nonce of the first frame's header box.
    pub nonce: [u8; 24],
}

impl std::fmt::Debug for BoxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoxKey { .. }")
    }
}
