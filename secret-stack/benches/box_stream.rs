//! Box-stream throughput against the cipher's own ceiling.
//!
//! * `cipher/*`: one 4 KiB secretbox seal or open on one core — dryoc (what we use) and RustCrypto
//!   `crypto_secretbox` for comparison.
//! * `frame/seal_4k`: one whole 4 KiB frame with the sync sealer — the body box plus the 18-byte
//!   header box every frame carries, so the protocol's own cost without any I/O layer.
//! * `box_stream/*`: a 64 KiB write split into sixteen 4 KiB frames, through `BoxWriter` and
//!   `BoxReader` over an in-memory pipe: sealing only, opening only, and both (two cipher passes
//!   per byte, so compare it with half the seal rate).
//!
//! Run with `cargo bench -p secret-stack --bench box_stream`; it takes well under a minute.

use std::cell::RefCell;
use std::future::Future;
use std::hint::black_box;
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use dryoc::classic::crypto_secretbox::{crypto_secretbox_detached, crypto_secretbox_open_detached};
use secret_stack::box_stream::{BoxKey, BoxReader, BoxWriter, FRAME_HEADER_LEN, Nonce, seal_frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

const FRAME: usize = 4096;
const WRITE: usize = 64 * 1024;

/// Polls an in-memory future to completion; everything here is ready at once, so a no-op waker
/// is enough.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// An in-memory pipe: what the writer end writes, the reader end reads; the buffer is reused.
#[derive(Clone, Default)]
struct Pipe(Rc<RefCell<(Vec<u8>, usize)>>);

impl AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.borrow_mut().0.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut state = self.0.borrow_mut();
        let (data, pos) = &mut *state;
        let n = out.remaining().min(data.len() - *pos);
        out.put_slice(&data[*pos..*pos + n]);
        *pos += n;
        if *pos == data.len() {
            data.clear();
            *pos = 0;
        }
        Poll::Ready(Ok(()))
    }
}

/// A sink that drops what it is given (the seal-only path).
struct Discard;

impl AsyncWrite for Discard {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        black_box(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn key() -> BoxKey {
    BoxKey {
        key: [0x42; 32],
        nonce: [0x24; 24],
    }
}

fn message(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn cipher(c: &mut Criterion) {
    let mut group = c.benchmark_group("cipher");
    group.throughput(Throughput::Bytes(FRAME as u64));
    let key = key();
    let msg = message(FRAME);
    let mut ct = vec![0u8; FRAME];
    let mut mac = [0u8; 16];

    group.bench_function("dryoc_seal_4k", |b| {
        b.iter(|| {
            crypto_secretbox_detached(&mut ct, &mut mac, black_box(&msg), &key.nonce, &key.key)
                .expect("seal");
            black_box(&mac);
        })
    });

    crypto_secretbox_detached(&mut ct, &mut mac, &msg, &key.nonce, &key.key).expect("seal");
    let mut opened = vec![0u8; FRAME];
    group.bench_function("dryoc_open_4k", |b| {
        b.iter(|| {
            crypto_secretbox_open_detached(&mut opened, black_box(&ct), &mac, &key.nonce, &key.key)
                .expect("open");
            black_box(&opened);
        })
    });

    let rc = XSalsa20Poly1305::new(&key.key.into());
    let mut buf = msg.clone();
    group.bench_function("crypto_secretbox_seal_4k", |b| {
        b.iter(|| {
            let tag = rc
                .encrypt_in_place_detached((&key.nonce).into(), b"", black_box(&mut buf))
                .expect("seal");
            black_box(tag);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(FRAME as u64));
    let mut nonce = Nonce::new(key.nonce);
    let mut frame = vec![0u8; FRAME_HEADER_LEN + FRAME];
    group.bench_function("seal_4k", |b| {
        b.iter(|| {
            seal_frame(&key.key, &mut nonce, black_box(&msg), &mut frame).expect("seal");
            black_box(&frame);
        })
    });
    group.finish();
}

fn box_stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("box_stream");
    group.throughput(Throughput::Bytes(WRITE as u64));
    let key = key();
    let data = message(WRITE);

    let mut writer = BoxWriter::new(Discard, &key);
    group.bench_function("seal_64k_write", |b| {
        b.iter(|| {
            run(async {
                writer.write_all(black_box(&data)).await.expect("write");
                writer.flush().await.expect("flush");
            })
        })
    });

    // Opening only: the 64 KiB is sealed outside the timed part.
    let pipe = Pipe::default();
    let mut writer = BoxWriter::new(pipe.clone(), &key);
    let mut reader = BoxReader::new(pipe.clone(), &key);
    let mut out = vec![0u8; WRITE];
    group.bench_function("open_64k_write", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                run(async {
                    writer.write_all(&data).await.expect("write");
                    writer.flush().await.expect("flush");
                });
                let start = Instant::now();
                run(reader.read_exact(&mut out)).expect("read");
                total += start.elapsed();
                black_box(&out);
            }
            total
        })
    });

    // Both: seal then open, the whole round through the pipe.
    let pipe = Pipe::default();
    let mut writer = BoxWriter::new(pipe.clone(), &key);
    let mut reader = BoxReader::new(pipe.clone(), &key);
    group.bench_function("seal_and_open_64k_write", |b| {
        b.iter(|| {
            run(async {
                writer.write_all(black_box(&data)).await.expect("write");
                writer.flush().await.expect("flush");
                reader.read_exact(&mut out).await.expect("read");
            });
            black_box(&out);
        })
    });
    assert_eq!(out, data, "the pipe round trip gives back the plaintext");
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
}

criterion_group! {
    name = benches;
    config = config();
    targets = cipher, box_stream
}
criterion_main!(benches);
