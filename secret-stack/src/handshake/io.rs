//! Exact-size message reads and writes of the handshake, each bounded by its own timeout.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::error::{HandshakeError, Phase, Side};

/// Reads exactly `N` bytes — one handshake message, never more — within `timeout`.
pub(crate) async fn read_msg<S: AsyncRead + Unpin, const N: usize>(
    stream: &mut S,
    side: Side,
    phase: Phase,
    timeout: Duration,
) -> Result<[u8; N], HandshakeError> {
    let mut buf = [0u8; N];
    let mut received = 0;
    let fill =
        async {
            while received < N {
                let n = stream.read(&mut buf[received..]).await.map_err(|source| {
                    HandshakeError::Io {
                        side,
                        phase,
                        source,
                    }
                })?;
                if n == 0 {
                    return Err(HandshakeError::PeerHungUp {
                        side,
                        phase,
                        received,
                        expected: N,
                    });
                }
                received += n;
            }
            Ok(())
        };
    match tokio::time::timeout(timeout, fill).await {
        Ok(Ok(())) => {
            tracing::trace!(?side, %phase, "shs message received");
            Ok(buf)
        }
        Ok(Err(error)) => Err(error),
        Err(_) => Err(HandshakeError::Timeout {
            side,
            phase,
            timeout,
        }),
    }
}

/// Writes and flushes one handshake message within `timeout`.
pub(crate) async fn write_msg<S: AsyncWrite + Unpin>(
    stream: &mut S,
    message: &[u8],
    side: Side,
    phase: Phase,
    timeout: Duration,
) -> Result<(), HandshakeError> {
    let send = async {
        stream.write_all(message).await?;
        stream.flush().await
    };
    match tokio::time::timeout(timeout, send).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(HandshakeError::Io {
            side,
            phase,
            source,
        }),
        Err(_) => Err(HandshakeError::Timeout {
            side,
            phase,
            timeout,
        }),
    }
}

/// Ends our half of the connection after rejecting the peer, without writing anything.
/// Best effort: errors are ignored, and the attempt is bounded by `timeout`.
pub(crate) async fn reject<S: AsyncWrite + Unpin>(stream: &mut S, timeout: Duration) {
    let _ = tokio::time::timeout(timeout, stream.shutdown()).await;
}
