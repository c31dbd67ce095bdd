//! The metrics sender keeps one gRPC channel: interval after interval it sends over
//! the same connection, where it used to connect anew for every send.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use observe_core::config::OtlpExport;
use observe_core::export::MetricsExporter;

use crate::support::{Receiver, resource};

/// A TCP proxy in front of `to` that counts the connections it accepts.
struct Proxy {
    port: u16,
    connections: Arc<AtomicUsize>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Proxy {
    fn start(to: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::Relaxed);
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, server));
                std::thread::spawn(move || pipe(s2, c2));
            }
        });
        Proxy { port, connections }
    }
}

#[test]
fn the_grpc_metrics_sender_keeps_one_connection() {
    let Some(rx) = Receiver::start(0, -1, None) else {
        return;
    };
    let proxy = Proxy::start(rx.grpc_port as u16);
    observe_core::metrics::counter("metrics_sender.sends", &[]).add(1);
    let exporter = MetricsExporter::start(
        OtlpExport::grpc(format!("http://127.0.0.1:{}", proxy.port)),
        Duration::from_millis(100),
        Duration::from_secs(5),
        &resource(),
    )
    .expect("sender");
    // Wait (polling) until several intervals were sent.
    for _ in 0..500 {
        if exporter.stats().exports >= 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(exporter.shutdown(std::time::Instant::now() + Duration::from_secs(5)));
    let st = exporter.stats();
    assert!(st.exports >= 6, "{st:?}");
    assert_eq!(st.failures, 0, "{st:?}");
    assert_eq!(
        proxy.connections.load(Ordering::Relaxed),
        1,
        "{} sends over one connection",
        st.exports
    );
}
