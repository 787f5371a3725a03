//! The phone's view of HTTP: a narrow trait the app (or a test, or the simulator) implements,
//! and an optional ready client on blocking reqwest (feature `reqwest-client`).

/// An answer from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `Retry-After` header, in seconds, when present.
    pub retry_after: Option<u64>,
}

/// The request never got an answer (DNS, connection, timeout): it may be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("network: {0}")]
pub struct NetworkError(pub String);

/// What the phone needs from HTTP.
pub trait Http {
    fn get(&self, url: &str) -> Result<Response, NetworkError>;
    /// PUT with a JSON body.
    fn put_json(&self, url: &str, body: &[u8]) -> Result<Response, NetworkError>;
}

/// HTTP through blocking reqwest. Do not call it from inside an async runtime's worker thread.
#[cfg(feature = "reqwest-client")]
#[derive(Debug, Clone)]
pub struct ReqwestHttp {
    client: reqwest::blocking::Client,
}

#[cfg(feature = "reqwest-client")]
impl ReqwestHttp {
    pub fn new() -> Self {
        let client = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("a client with default TLS settings builds");
        Self { client }
    }

    fn answer(r: reqwest::blocking::Response) -> Result<Response, NetworkError> {
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = r.bytes().map_err(|e| NetworkError(e.to_string()))?.to_vec();
        Ok(Response {
            status,
            body,
            retry_after,
        })
    }
}

#[cfg(feature = "reqwest-client")]
impl Default for ReqwestHttp {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "reqwest-client")]
impl Http for ReqwestHttp {
    fn get(&self, url: &str) -> Result<Response, NetworkError> {
        Self::answer(
            self.client
                .get(url)
                .send()
                .map_err(|e| NetworkError(e.to_string()))?,
        )
    }

    fn put_json(&self, url: &str, body: &[u8]) -> Result<Response, NetworkError> {
        let r = self
            .client
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .map_err(|e| NetworkError(e.to_string()))?;
        Self::answer(r)
    }
}
