//! # observe-cli
//!
//! The `observe` command. `observe bullet` fires a signed tracer bullet at a
//! service: it signs a token for a fresh trace id with the key the services share
//! (`OBSERVE_TRACER_BULLET_KEY`, read with observe's own parser, signed with
//! [`observe_core::tracer_bullet::sign_now`]), sends the request with `traceparent`
//! (sampled), the baggage marker and the token, and prints the trace id, the
//! response, and the footprint every service on the path added
//! ([`observe_core::footprint`]).
//!
//! ```text
//! $ OBSERVE_TRACER_BULLET_KEY=... observe bullet -X POST -d '{"sku":"A-1"}' \
//!       -H 'content-type: application/json' http://localhost:8080/checkout
//! trace_id: 4bf92f3577b34da6a3ce929d0e0e4736
//! status: 200 OK
//! ...
//! footprint: v1;svc=edge,orders;skip=orders/insert_order*1;block=orders/127.0.0.1*1
//!   crossed edge -> orders; skipped insert_order in orders x1; blocked calls to 127.0.0.1 from orders x1
//! ```
//!
//! The same, from code: [`bullet::fire`].
//!
//! It speaks plain HTTP only (no TLS library is built in, so it builds anywhere):
//! fire it at an edge's HTTP port from inside the network, or use the `curl` and
//! `openssl` recipe of `docs/tracer-bullet.md` for an `https://` URL.

pub mod bullet;
