//! The admin routes: `/metrics` and the JSON APIs under `/observe/api/`.

use axum::Router;

/// The admin [`Router`], for services that mount it themselves (behind their own
/// authentication, or on a listener of their choosing). [`serve`](crate::serve())
/// serves it on the admin listener (`OBSERVE_ADMIN_ADDR`, loopback by default).
///
/// Never merge it into the public router by accident: it exposes the service's
/// internals.
pub fn admin_routes() -> Router {
    Router::new()
}
