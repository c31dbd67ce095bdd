//! [`ObserveMiddleware`]: the outgoing integration for `reqwest-middleware`.

use std::future::Future as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::header;
use reqwest_middleware::{Middleware, Next};

use crate::client::{BlockedReason, ClientOptions, Outgoing, TracerBulletBlocked};

/// How many redirects [`ObserveMiddleware::client_builder`] follows, as reqwest's
/// default policy does.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// A [`reqwest_middleware::Middleware`] that does for reqwest what
/// [`ObserveClientLayer`](crate::client::ObserveClientLayer) does for tower clients
/// (see [`client`](crate::client)).
///
/// Build the client with [`client_builder`](Self::client_builder): it turns
/// reqwest's own redirects off and lets the middleware follow them, hop by hop,
/// deciding each hop again (its audience, its headers, and in a tracer bullet
/// whether it may be sent at all). So an internal host that answers 307 to an
/// external one cannot make observe send `baggage`, `x-request-id` or a tracer
/// bullet there.
///
/// ```
/// use observe_core::client::ObserveMiddleware;
///
/// let client = ObserveMiddleware::new()
///     .client_builder(reqwest::Client::builder())?
///     .build();
/// # let _ = client;
/// # Ok::<(), reqwest::Error>(())
/// ```
///
/// **With a client you built yourself**, [`ObserveMiddleware::new`] sees only the
/// requests the client is given. If that client follows redirects itself (reqwest's
/// default policy does), reqwest sends the headers observe added to the first
/// request on to every host it is redirected to, and sends a tracer bullet's
/// request there too; observe learns of it only from the response (its URL is not
/// the one requested): it logs a warning once, counts
/// `observe.client.unchecked_redirects`, and marks the client span
/// `observe.redirect.unchecked`. Build such a client with
/// `.redirect(reqwest::redirect::Policy::none())` and call
/// [`follow_redirects`](Self::follow_redirects), or use `client_builder`.
///
/// A request it does not send (a tracer bullet to an external host, or whose URL
/// it cannot read) fails with `reqwest_middleware::Error::Middleware` wrapping a
/// [`TracerBulletBlocked`].
#[derive(Debug, Clone, Default)]
pub struct ObserveMiddleware {
    options: Arc<ClientOptions>,
    max_redirects: usize,
}

impl ObserveMiddleware {
    /// The middleware with the default options, following no redirect itself.
    pub fn new() -> Self {
        ObserveMiddleware::default()
    }

    /// The middleware with these options, following no redirect itself.
    pub fn with_options(options: ClientOptions) -> Self {
        ObserveMiddleware {
            options: Arc::new(options),
            max_redirects: 0,
        }
    }

    /// Follows up to `max` redirects (301, 302, 303, 307, 308) itself, each hop
    /// observed and decided on its own; 0 (the default of `new`) follows none. Only
    /// for a client that does not follow redirects itself
    /// (`reqwest::redirect::Policy::none()`), which
    /// [`client_builder`](Self::client_builder) builds.
    ///
    /// Like reqwest: 301, 302 and 303 turn a request other than `GET` or `HEAD`
    /// into a body-less `GET`; 307 and 308 repeat it, if its body can be sent again
    /// (otherwise the 3xx is returned); a hop to another origin loses
    /// `authorization`, `cookie`, `proxy-authorization` and `www-authenticate`. A
    /// `Location` that is not an `http` or `https` URL, or one more redirect than
    /// `max`, returns the 3xx response as it is.
    pub fn follow_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// The documented way to an observed reqwest client: `builder` with reqwest's
    /// redirects turned off, wrapped in a `reqwest_middleware::ClientBuilder` with
    /// this middleware following up to [`DEFAULT_MAX_REDIRECTS`] itself (unless
    /// [`follow_redirects`](Self::follow_redirects) said otherwise). Add further
    /// middlewares with `.with(..)` (those added after this one run for every hop),
    /// then `.build()`.
    ///
    /// # Errors
    /// What `reqwest::ClientBuilder::build` returns (a TLS backend that cannot
    /// start, for example).
    pub fn client_builder(
        mut self,
        builder: reqwest::ClientBuilder,
    ) -> reqwest::Result<reqwest_middleware::ClientBuilder> {
        if self.max_redirects == 0 {
            self.max_redirects = DEFAULT_MAX_REDIRECTS;
        }
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(reqwest_middleware::ClientBuilder::new(client).with(self))
    }

    /// Sends one hop, observed.
    async fn send(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let uri: http::Uri = match req.url().as_str().parse() {
            Ok(uri) => uri,
            Err(_) => {
                // Its audience cannot be decided: a tracer bullet does not send it;
                // a standard request goes without observe's headers, and without
                // the identity and token headers the application set (as to an
                // external host).
                if crate::context::is_tracer_bullet() {
                    let host = req.url().host_str().unwrap_or_default().to_owned();
                    crate::footprint::record_blocked_here(&host);
                    return Err(reqwest_middleware::Error::middleware(TracerBulletBlocked {
                        host,
                        reason: BlockedReason::UnreadableUrl,
                    }));
                }
                if crate::pipeline::Pipeline::current().is_some() {
                    req.headers_mut().remove(crate::propagation::BAGGAGE);
                    req.headers_mut()
                        .remove(crate::propagation::OBSERVE_TRACER_BULLET);
                }
                return next.run(req, extensions).await;
            }
        };
        // The headers taken out for a moment, so that the method is borrowed, not
        // cloned, beside them.
        let mut headers = std::mem::take(req.headers_mut());
        let started = Outgoing::start(&self.options, req.method(), &uri, &mut headers);
        *req.headers_mut() = headers;
        let outgoing = match started {
            Ok(outgoing) => outgoing,
            Err(blocked) => return Err(reqwest_middleware::Error::middleware(blocked)),
        };
        // What the response's URL is compared with, to tell a redirect followed
        // without observe: a hash of the URL rather than a copy of it.
        let requested = url_hash(req.url());
        // Poll the request inside the client span, so what reqwest and hyper log
        // belongs to it.
        let mut sent = std::pin::pin!(next.run(req, extensions));
        let result =
            std::future::poll_fn(|cx| outgoing.span().in_scope(|| sent.as_mut().poll(cx))).await;
        match &result {
            Ok(response) => {
                if url_hash(response.url()) != requested {
                    unchecked_redirect(&outgoing, &uri, response.url());
                }
                outgoing.finish(response.status().as_u16(), response.headers());
            }
            Err(e) => outgoing.fail(e),
        }
        result
    }
}

/// A 64-bit hash of a URL's text: equal for equal URLs; for different ones, equal
/// with a chance of 2^-64 (a redirect then goes unnoticed, nothing worse).
fn url_hash(url: &url::Url) -> u64 {
    use std::hash::BuildHasher as _;
    static SEED: std::sync::OnceLock<foldhash::fast::RandomState> = std::sync::OnceLock::new();
    SEED.get_or_init(Default::default).hash_one(url.as_str())
}

/// The client followed a redirect observe did not see.
fn unchecked_redirect(outgoing: &Outgoing, from: &http::Uri, to: &url::Url) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    outgoing
        .span()
        .set_attribute("observe.redirect.unchecked", true);
    crate::metrics::counter(UNCHECKED_REDIRECTS, &[]).inc();
    if !WARNED.swap(true, Ordering::Relaxed) {
        let (from, to) = (uri_origin(from), origin(to));
        outgoing.span().in_scope(|| {
            tracing::warn!(
                target: "observe::client",
                "the reqwest client followed a redirect from {from} to {to} without observe: \
                 it re-sent observe's headers unchecked; build it with \
                 ObserveMiddleware::client_builder (logged once)"
            );
        });
    }
}

/// `scheme://host:port`, never a path or a query (they may hold secrets).
fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// [`origin`] of the URL a request was sent to (it parsed as this `Uri`).
fn uri_origin(uri: &http::Uri) -> String {
    url::Url::parse(&uri.to_string()).map_or_else(|_| String::new(), |u| origin(&u))
}

/// The counter of redirects a reqwest client followed without observe.
pub const UNCHECKED_REDIRECTS: &str = "observe.client.unchecked_redirects";

/// The next hop of a redirect response, or `None` when it is not followed. `next` is
/// a copy of the request that was redirected: its URL is the one redirected from.
fn redirect(
    status: reqwest::StatusCode,
    location: Option<&http::HeaderValue>,
    mut next: reqwest::Request,
) -> Option<reqwest::Request> {
    use reqwest::StatusCode;
    match status {
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => {
            if next.method() != reqwest::Method::GET && next.method() != reqwest::Method::HEAD {
                *next.method_mut() = reqwest::Method::GET;
                *next.body_mut() = None;
                for name in [
                    header::CONTENT_TYPE,
                    header::CONTENT_LENGTH,
                    header::CONTENT_ENCODING,
                    header::TRANSFER_ENCODING,
                ] {
                    next.headers_mut().remove(name);
                }
            }
        }
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => {}
        _ => return None,
    }
    let location = location?.to_str().ok()?;
    let to = next.url().join(location).ok()?;
    if !matches!(to.scheme(), "http" | "https") {
        return None;
    }
    if to.origin() != next.url().origin() {
        for name in [
            header::AUTHORIZATION,
            header::COOKIE,
            header::PROXY_AUTHORIZATION,
            header::WWW_AUTHENTICATE,
        ] {
            next.headers_mut().remove(name);
        }
    }
    *next.url_mut() = to;
    Some(next)
}

#[async_trait::async_trait]
impl Middleware for ObserveMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        // Each hop starts again from the request as the application built it, so
        // nothing observe added for one hop is carried to the next.
        let mut request = req;
        let mut redirects_left = self.max_redirects;
        loop {
            let (send, template) = if redirects_left == 0 {
                (request, None)
            } else {
                match request.try_clone() {
                    Some(copy) => (copy, Some(request)),
                    // A streamed body cannot be sent twice: no following.
                    None => (request, None),
                }
            };
            let response = self.send(send, extensions, next.clone()).await?;
            let Some(template) = template else {
                return Ok(response);
            };
            match redirect(
                response.status(),
                response.headers().get(header::LOCATION),
                template,
            ) {
                // 307 and 308 repeat the body: it must be there to repeat.
                Some(hop) => {
                    redirects_left -= 1;
                    request = hop;
                }
                None => return Ok(response),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str) -> reqwest::Request {
        reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap())
    }

    #[test]
    fn the_unchecked_redirect_warning_names_origins_only() {
        let sent: http::Uri = "http://a.internal:8080/x?token=1".parse().unwrap();
        assert_eq!(uri_origin(&sent), "http://a.internal:8080");
        let sent: http::Uri = "https://b.example/y".parse().unwrap();
        assert_eq!(uri_origin(&sent), "https://b.example");
        let url: url::Url = "https://b.example/y?q=1".parse().unwrap();
        assert_eq!(origin(&url), "https://b.example");
        assert_eq!(url_hash(&url), url_hash(&url.as_str().parse().unwrap()));
        assert_ne!(
            url_hash(&url),
            url_hash(&"https://b.example/z".parse().unwrap())
        );
    }

    #[test]
    fn redirects_follow_reqwest_rules() {
        let from: url::Url = "https://a.internal/x".parse().unwrap();
        let loc = |s: &'static str| http::HeaderValue::from_static(s);
        let mut post = reqwest::Request::new(reqwest::Method::POST, from.clone());
        *post.body_mut() = Some("x".into());
        post.headers_mut()
            .insert(header::AUTHORIZATION, loc("secret"));
        post.headers_mut()
            .insert(header::CONTENT_TYPE, loc("text/plain"));

        let hop = redirect(
            reqwest::StatusCode::SEE_OTHER,
            Some(&loc("/y")),
            post.try_clone().unwrap(),
        )
        .unwrap();
        assert_eq!(hop.method(), reqwest::Method::GET);
        assert!(hop.body().is_none());
        assert!(!hop.headers().contains_key(header::CONTENT_TYPE));
        assert_eq!(hop.url().as_str(), "https://a.internal/y");
        assert!(
            hop.headers().contains_key(header::AUTHORIZATION),
            "same origin"
        );

        let hop = redirect(
            reqwest::StatusCode::TEMPORARY_REDIRECT,
            Some(&loc("https://b.example/z")),
            post.try_clone().unwrap(),
        )
        .unwrap();
        assert_eq!(hop.method(), reqwest::Method::POST);
        assert!(hop.body().is_some());
        assert!(
            !hop.headers().contains_key(header::AUTHORIZATION),
            "another origin"
        );

        assert!(
            redirect(
                reqwest::StatusCode::NOT_MODIFIED,
                Some(&loc("/y")),
                get("https://a.internal/x")
            )
            .is_none()
        );
        assert!(
            redirect(
                reqwest::StatusCode::FOUND,
                None,
                get("https://a.internal/x")
            )
            .is_none()
        );
        assert!(
            redirect(
                reqwest::StatusCode::FOUND,
                Some(&loc("file:///etc/passwd")),
                get("https://a.internal/x")
            )
            .is_none()
        );
    }
}
