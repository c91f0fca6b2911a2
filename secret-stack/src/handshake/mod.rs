//! The secret handshake (SHS v1): four messages of mutual authentication bound to an app key.
