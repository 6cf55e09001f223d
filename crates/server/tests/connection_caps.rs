//! Connection caps against the real binary: with `limits.rtmp.max_per_ip` = 2, a
//! third RTMP connection from one client is closed at once (and counted in
//! /metrics) while that client's open connections and another client keep being
//! served.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::Brume;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Sends C0+C1 and returns the first answer byte (S0, 3 for RTMP), or `None`
/// when the server closed the connection instead.
async fn handshake_reply(conn: &mut TcpStream) -> Option<u8> {
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(7u8, 1536));
    if conn.write_all(&c0c1).await.is_err() {
        return None;
    }
    let mut s0 = [0u8; 1];
    match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut s0)).await {
        Ok(Ok(1)) => Some(s0[0]),
        Ok(_) => None,
        Err(_) => panic!("the server neither answered nor closed"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtmp_client_over_its_cap_is_refused_while_others_are_served() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"limits": {"rtmp": {"max_per_ip": 2}}}),
    );
    let rtmp: SocketAddr = brume.rtmp_addr().parse().unwrap();
    let mut first = connect_from("127.0.0.1", rtmp).await;
    let mut second = connect_from("127.0.0.1", rtmp).await;
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = connect_from("127.0.0.1", rtmp).await;
    assert_eq!(handshake_reply(&mut third).await, None, "the third got in");
    // The client's first two, and another client, are served.
    assert_eq!(handshake_reply(&mut first).await, Some(3));
    assert_eq!(handshake_reply(&mut second).await, Some(3));
    let mut other = connect_from("127.0.0.2", rtmp).await;
    assert_eq!(handshake_reply(&mut other).await, Some(3));
    // Closing one frees its place.
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = connect_from("127.0.0.1", rtmp).await;
    assert_eq!(handshake_reply(&mut again).await, Some(3));

    let api = api_client::Client::of(&brume);
    let metrics = tokio::task::spawn_blocking(move || api.get("/metrics"))
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics.contains("brume_refused_total{listener=\"rtmp\",reason=\"max_per_ip\"} 1"),
        "{metrics}"
    );
}
