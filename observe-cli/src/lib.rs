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
//! It speaks HTTP and HTTPS (rustls with the ring provider, no OpenSSL): an
//! `https://` URL is verified against the platform's trust store, or, with
//! `--cacert FILE`, against that file's CA certificates only (a private CA). A
//! certificate that does not verify is an error and nothing is sent.

pub mod bullet;
