//! muxrpc request handling on a live engine: whatever a peer sends, as the peer's
//! half of one connection, to `RpcHandle::start` serving the vectors' callee (a `#[plugin]`).
//!
//! Input: a byte choosing the peer's permissions, 8 bytes of schedule seed, then the bytes the
//! peer sends (packet-stream-codec frames; the A->B packets of the muxrpc vectors are seeds). They
//! arrive in scheduled pieces, then the peer's end of input. The engine must then end the session,
//! say goodbye and close, within a bound; everything it wrote must decode, carry a body, and
//! answer a request the peer actually made (a negative request number whose positive the peer
//! used), and nothing may follow its goodbye.

#![no_main]

use std::collections::HashSet;
use std::time::Duration;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use secret_stack::rpc::{Frame, PacketCodec, RpcConfig, RpcHandle};
use secret_stack_fuzz::callee;
use secret_stack_fuzz::input::{Input, Schedule};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::runtime::Runtime;
use tokio_util::codec::Decoder as _;

thread_local! {
    static RUNTIME: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("current-thread runtime");
}

/// Far more than an execution needs; a session still open after it is a hang.
const DEADLINE: Duration = Duration::from_secs(5);

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let choice = input.byte();
    let mut schedule = Schedule::new(u64::from_be_bytes(input.array()));
    let sent = input.rest().to_vec();
    let config = RpcConfig {
        max_body: 1 << 16,
        stream_buffer: 4,
        ..RpcConfig::default()
    };
    let written = RUNTIME.with(|rt| {
        rt.block_on(async {
            let (engine_end, mut peer) = tokio::io::duplex(4096);
            let (reader, writer) = tokio::io::split(engine_end);
            let context = callee::context(callee::permissions(choice));
            let handle = RpcHandle::start(reader, writer, callee::table(), context, config);
            let talk = async {
                let send = async {
                    let (mut peer_reader, mut peer_writer) = tokio::io::split(&mut peer);
                    let write = async {
                        let mut fed = 0;
                        while fed < sent.len() {
                            let n = schedule.size(sent.len() - fed);
                            if peer_writer.write_all(&sent[fed..fed + n]).await.is_err() {
                                break; // the engine hung up: fine
                            }
                            fed += n;
                            if schedule.next_u64().is_multiple_of(4) {
                                tokio::task::yield_now().await;
                            }
                        }
                        let _ = peer_writer.shutdown().await;
                    };
                    let read = async {
                        let mut written = Vec::new();
                        let _ = peer_reader.read_to_end(&mut written).await;
                        written
                    };
                    tokio::join!(write, read).1
                };
                let (written, end) = tokio::join!(send, handle.closed());
                let _ = end;
                written
            };
            match tokio::time::timeout(DEADLINE, talk).await {
                Ok(written) => written,
                Err(_) => panic!("the session did not end after the peer's end of input"),
            }
        })
    });
    check_output(&sent, &written);
});

/// The engine's output must be well-formed and only answer requests the peer made.
fn check_output(sent: &[u8], written: &[u8]) {
    let requests: HashSet<i32> = requests_in(sent);
    let mut codec = PacketCodec::new(usize::MAX);
    let mut buf = BytesMut::from(written);
    let mut goodbye = false;
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(Frame::Packet(packet))) => {
                assert!(!goodbye, "a packet after the goodbye");
                assert!(
                    packet.req < 0 && requests.contains(&packet.req.wrapping_neg()),
                    "answered request {} that the peer never made",
                    packet.req
                );
            }
            Ok(Some(Frame::Goodbye)) => goodbye = true,
            Ok(None) => break,
            Err(err) => panic!("the engine wrote an undecodable frame: {err}"),
        }
    }
}

/// The positive request numbers of the frames the peer sent (as far as they decode).
fn requests_in(sent: &[u8]) -> HashSet<i32> {
    let mut codec = PacketCodec::new(usize::MAX);
    let mut buf = BytesMut::from(sent);
    let mut requests = HashSet::new();
    while let Ok(Some(Frame::Packet(packet))) = codec.decode(&mut buf) {
        if packet.req > 0 {
            requests.insert(packet.req);
        }
    }
    // A frame with an invalid body still carries a request number the engine may answer.
    let mut rest = sent;
    while rest.len() >= 9 {
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let req = i32::from_be_bytes(rest[5..9].try_into().unwrap());
        if len == 0 {
            break;
        }
        if req > 0 {
            requests.insert(req);
        }
        rest = rest.get(9 + len..).unwrap_or_default();
    }
    requests
}
