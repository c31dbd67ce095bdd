//! [`ApiRequest`] and [`ApiResponse`]: what a route's handler gets and gives.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

/// One admin request, parsed for a handler: method, path, query pairs, path
/// parameters, headers, the (bounded) body and the client's address.
#[derive(Clone)]
pub struct ApiRequest {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    params: Vec<(&'static str, String)>,
    headers: HeaderMap,
    body: Bytes,
    peer: Option<SocketAddr>,
}

impl fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("params", &self.params)
            .field("body_len", &self.body.len())
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl ApiRequest {
    /// A request for `method` on `path_and_query` (e.g. `/observe/api/v1/traces?limit=5`)
    /// with `body`: for tests of a handler.
    pub fn new(method: Method, path_and_query: &str, body: impl Into<Bytes>) -> ApiRequest {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, query),
            None => (path_and_query, ""),
        };
        ApiRequest {
            method,
            path: path.to_owned(),
            query: parse_query(query),
            params: Vec::new(),
            headers: HeaderMap::new(),
            body: body.into(),
            peer: None,
        }
    }

    pub(crate) fn from_parts(
        method: Method,
        parts: &http::request::Parts,
        params: Vec<(&'static str, String)>,
        body: Bytes,
        peer: Option<SocketAddr>,
    ) -> ApiRequest {
        ApiRequest {
            method,
            path: parts.uri.path().to_owned(),
            query: parse_query(parts.uri.query().unwrap_or("")),
            params,
            headers: parts.headers.clone(),
            body,
            peer,
        }
    }

    /// The same request with a path parameter set (as the router does for
    /// `{name}` segments): for tests of a handler.
    pub fn with_param(mut self, name: &'static str, value: impl Into<String>) -> ApiRequest {
        self.params.push((name, value.into()));
        self
    }

    /// The same request from `peer`: for tests of a handler.
    pub fn with_peer(mut self, peer: SocketAddr) -> ApiRequest {
        self.peer = Some(peer);
        self
    }

    /// The method (`HEAD` arrives as `GET`; the router drops the body of the answer).
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query's pairs, percent-decoded, in order (a key may repeat).
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The first value of the query parameter `name`.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of the query parameter `name`, in order.
    pub fn query_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path segment matched by `{name}` in the route's pattern.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body (at most [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES)).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The client's address, when the server knows it.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The body parsed as JSON into `T`, or the 400 answer to give: an empty body,
    /// invalid JSON, or a shape `T` does not accept.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiResponse> {
        if self.body.is_empty() {
            return Err(ApiResponse::error(
                StatusCode::BAD_REQUEST,
                format!("{} {} needs a JSON body", self.method, self.path),
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiResponse::error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body of {} {} is not what it accepts: {e}",
                    self.method, self.path
                ),
            )
        })
    }
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A handler's answer: a status, a content type, a body and extra headers.
#[derive(Clone)]
pub struct ApiResponse {
    status: StatusCode,
    // A few headers at most: a vector keeps the value small (handlers return it in
    // `Result`s).
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl fmt::Debug for ApiResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// The longest error message an admin answer carries, in bytes.
pub const MAX_ERROR_LEN: usize = 1024;

impl ApiResponse {
    /// `value` as JSON with `status`.
    pub fn json(status: StatusCode, value: serde_json::Value) -> ApiResponse {
        ApiResponse::body(status, "application/json", value.to_string())
    }

    /// `{"error": message}` with `status` (a 4xx or 5xx). Say what to do about it.
    /// A message over [`MAX_ERROR_LEN`] bytes (one that quotes a huge parameter)
    /// is cut there, with `…`: an error never echoes more than that of a request.
    pub fn error(status: StatusCode, message: impl Into<String>) -> ApiResponse {
        let mut message = message.into();
        if message.len() > MAX_ERROR_LEN {
            let mut end = MAX_ERROR_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        ApiResponse::json(status, serde_json::json!({ "error": message }))
    }

    /// Any body with its content type.
    pub fn body(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> ApiResponse {
        ApiResponse {
            status,
            headers: vec![(CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body: body.into(),
        }
    }

    /// Adds a header (a value that is not a valid header value is dropped).
    pub fn header(mut self, name: HeaderName, value: impl AsRef<str>) -> ApiResponse {
        if let Ok(value) = HeaderValue::from_str(value.as_ref()) {
            self.headers.retain(|(n, _)| *n != name);
            self.headers.push((name, value));
        }
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body_bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body parsed as JSON (`Null` when it is not JSON): for tests.
    pub fn json_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The HTTP response.
    pub fn into_http(self) -> Response<Bytes> {
        let mut response = Response::new(self.body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_never_echoes_more_than_its_bound() {
        let huge = "é".repeat(5000);
        let answer = ApiResponse::error(StatusCode::NOT_FOUND, format!("no trace {huge}"));
        let message = answer.json_value()["error"].as_str().unwrap().to_owned();
        assert!(
            message.len() <= MAX_ERROR_LEN + '…'.len_utf8(),
            "{}",
            message.len()
        );
        assert!(message.starts_with("no trace é") && message.ends_with('…'));
        let short = ApiResponse::error(StatusCode::BAD_REQUEST, "bad");
        assert_eq!(short.json_value()["error"], "bad");
    }
}
