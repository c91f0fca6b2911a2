//! # secret-stack
//!
//! Secure peer-to-peer RPC for Rust, wire-compatible with the JavaScript `secret-stack` 8.1.0 that
//! Scuttlebutt is built on.
//!
//! The bytes travel through these layers, one module each:
//! transport → [`handshake`] → [`box_stream`] → [`rpc`] (packet codec, engine, dispatch) → plugin.

#![warn(missing_docs)]

pub mod box_stream;
pub mod handshake;
pub mod keys;
pub mod multiserver;
pub mod rpc;
pub mod stack;
