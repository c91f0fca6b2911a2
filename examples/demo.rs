//! Two peers in one process, over real TCP on 127.0.0.1: they run the secret handshake, each learns
//! the other's identity, and they exchange messages through the encrypted box stream.
//!
//! `cargo run --example demo`

use std::time::Duration;

use secret_stack::box_stream;
use secret_stack::handshake;
use secret_stack::keys::{AppKey, Keypair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let app_key: AppKey = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=".parse()?;
    let alice = Keypair::generate();
    let bob = Keypair::generate();
    let bob_public = bob.public();
    println!("alice is {}", alice.id());
    println!("bob   is {}", bob.id());

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    println!(
        "bob listens on net:127.0.0.1:{port}~shs:{}",
        bob_public.to_base64()
    );

    // Bob: accept one connection, authenticate it, read a message and answer it.
    let bob_task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let (session, ()) = handshake::server(
            &mut socket,
            &app_key,
            &bob,
            Duration::from_secs(5),
            |client| async move {
                println!("bob: {client} wants to talk; letting them in");
                Some(())
            },
        )
        .await?;
        let (read, write) = socket.into_split();
        let (mut reader, mut writer) =
            box_stream::pair(read, write, session.encrypt, session.decrypt);
        let mut message = String::new();
        reader.read_to_string(&mut message).await?;
        println!("bob: received {message:?} from {}", session.remote);
        writer
            .write_all(
                format!("hi {}, got your {} bytes", session.remote, message.len()).as_bytes(),
            )
            .await?;
        writer.shutdown().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    });

    // Alice: dial Bob by his public key and say hello.
    let mut socket = TcpStream::connect(("127.0.0.1", port)).await?;
    socket.set_nodelay(true)?;
    let session = handshake::client(
        &mut socket,
        &app_key,
        &alice,
        &bob_public,
        Duration::from_secs(5),
    )
    .await?;
    println!("alice: authenticated the server as {}", session.remote);
    let (read, write) = socket.into_split();
    let (mut reader, mut writer) = box_stream::pair(read, write, session.encrypt, session.decrypt);
    writer
        .write_all(b"hello from alice, encrypted end to end")
        .await?;
    writer.shutdown().await?; // flush, then the box-stream goodbye
    let mut answer = String::new();
    reader.read_to_string(&mut answer).await?;
    println!("alice: received {answer:?}");

    bob_task.await?.map_err(|e| e.to_string())?;
    println!("both peers said goodbye");
    Ok(())
}
