//! The `noauth` transform: no handshake, no encryption. The peer is reported as
//! ourselves with full permissions, so it is only safe where nobody else can connect: by default it
//! refuses to run on any listener but a loopback or unix-socket one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::future::BoxFuture;

use super::address::{AddressError, Protocol};
use super::transform::{Transform, TransformError, TransformInfo};
use super::transport::ByteStream;
use crate::keys::PublicKey;
use crate::rpc::Permissions;

/// The `noauth` transform.
#[derive(Debug, Clone)]
pub struct NoAuth {
    local: PublicKey,
    any_listener: bool,
}

impl NoAuth {
    /// A `noauth` transform for the node whose key is `local`; device-only listeners.
    pub fn new(local: PublicKey) -> NoAuth {
        NoAuth {
            local,
            any_listener: false,
        }
    }

    /// Also allows listeners reachable from other machines: anyone who can connect gets full
    /// permissions as this node. Only for networks you control.
    pub fn allow_any_listener(mut self) -> NoAuth {
        self.any_listener = true;
        self
    }

    fn info(&self) -> TransformInfo {
        TransformInfo {
            remote: self.local,
            section: Protocol::trusted("noauth", vec![STANDARD.encode(self.local.0)]),
            permissions: Some(Permissions::full()),
        }
    }
}

impl Transform for NoAuth {
    /// A `noauth` section carries nothing (any data after `noauth:` is ignored, as in JS).
    type Address = ();

    fn name(&self) -> &str {
        "noauth"
    }

    fn parse(&self, section: &Protocol) -> Result<(), AddressError> {
        if section.name() == "noauth" {
            Ok(())
        } else {
            Err(AddressError::WrongProtocol {
                expected: "noauth",
                got: section.name().to_owned(),
            })
        }
    }

    fn client<'a>(
        &'a self,
        connection: ByteStream,
        _address: &'a (),
    ) -> BoxFuture<'a, Result<(ByteStream, TransformInfo), TransformError>> {
        Box::pin(async move { Ok((connection, self.info())) })
    }

    fn server<'a>(
        &'a self,
        connection: ByteStream,
    ) -> BoxFuture<'a, Result<(ByteStream, TransformInfo), TransformError>> {
        Box::pin(async move { Ok((connection, self.info())) })
    }

    fn local_section(&self) -> Protocol {
        Protocol::trusted("noauth", Vec::new())
    }

    fn requires_device_only(&self) -> bool {
        !self.any_listener
    }
}
