//! The cipher's ceiling for the bulk figures: how fast one core seals, and opens, box-stream
//! frames of 4096 bytes (header box + body, as a writer emits them under bulk traffic).
//!
//! A `source` stream between two processes cannot beat the seal rate of the sending core nor the
//! open rate of the receiving one, so `benches/vs-js.sh` reports these next
//! to `source`, measured in the same run on the same machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use secret_stack::box_stream::{
    BoxKey, Decoded, FRAME_HEADER_LEN, FrameDecoder, FrameEncoder, MAX_BODY_LEN,
};

use crate::bench::Figure;

/// Frames sealed (or opened) per batch between two looks at the clock.
const BATCH: usize = 256;

fn key() -> BoxKey {
    BoxKey {
        key: [0x42; 32],
        nonce: [0x24; 24],
    }
}

/// Seals 4096-byte frames on this thread for about `time`; 10^6 plaintext bytes per second.
pub fn seal_rate(time: Duration) -> Figure {
    let plaintext = vec![0x5a; MAX_BODY_LEN];
    let mut frame = vec![0u8; FRAME_HEADER_LEN + MAX_BODY_LEN];
    let mut encoder = FrameEncoder::new(&key());
    let start = Instant::now();
    let mut frames = 0u64;
    while start.elapsed() < time {
        for _ in 0..BATCH {
            // Only a body over 4096 bytes can fail; this one is exactly 4096.
            let _ = black_box(encoder.seal_frame(black_box(&plaintext), &mut frame));
        }
        frames += BATCH as u64;
    }
    rate("seal", frames, start)
}

/// Opens 4096-byte frames on this thread for about `time`; 10^6 plaintext bytes per second.
///
/// The frames are sealed beforehand (a batch with consecutive nonces) and each is copied into the
/// work buffer before it is opened in place, as a reader's input buffer receives it; the copy is
/// part of the figure (about 2% of it).
pub fn open_rate(time: Duration) -> Figure {
    let frame_len = FRAME_HEADER_LEN + MAX_BODY_LEN;
    let plaintext = vec![0x5a; MAX_BODY_LEN];
    let mut encoder = FrameEncoder::new(&key());
    let mut sealed = vec![0u8; frame_len * BATCH];
    for chunk in sealed.chunks_mut(frame_len) {
        let _ = encoder.seal_frame(&plaintext, chunk);
    }
    let mut work = vec![0u8; frame_len];
    let start = Instant::now();
    let mut frames = 0u64;
    while start.elapsed() < time {
        let mut decoder = FrameDecoder::new(&key());
        for frame in sealed.chunks(frame_len) {
            work.copy_from_slice(frame);
            match decoder.decode(&mut work) {
                Ok(Some(Decoded::Data { .. })) => frames += 1,
                // The frames were sealed with this key and nonce sequence: anything else is a bug.
                other => panic!("a frame sealed for this benchmark did not open: {other:?}"),
            }
        }
    }
    rate("open", frames, start)
}

fn rate(bench: &str, frames: u64, start: Instant) -> Figure {
    Figure {
        bench: bench.to_owned(),
        value: (frames * MAX_BODY_LEN as u64) as f64 / start.elapsed().as_secs_f64() / 1e6,
        unit: "MB/s",
    }
}
