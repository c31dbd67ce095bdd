//! The admin surface over real HTTP on loopback: the router's rules (JSON errors,
//! 404, 405, 413, 421, HEAD), the metrics endpoints and their old aliases.

mod controls;
mod health;
mod latency;
mod router;
mod traces;
mod worker;

use std::net::SocketAddr;

use tokio::sync::oneshot;

/// An admin server on an ephemeral loopback port, stopped when dropped.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Server {
    pub(crate) async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(observe_core::admin::serve(listener, async move {
            let _ = stopped.await;
        }));
        Server { addr, _stop: stop }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The body of a response as JSON (panics with the text when it is not).
pub(crate) async fn json(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
