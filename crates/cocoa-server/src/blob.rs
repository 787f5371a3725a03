//! Blob storage for what the server publishes (signed export files, `list.json`, `index.txt`):
//! one narrow trait, [`BlobStore`], and one implementation over the `object_store` crate that
//! serves a local folder (the default, `<data_dir>/blobs`), any S3-compatible store
//! (`s3://bucket/prefix`), and memory (for tests). Every backend runs the same conformance suite
//! (`tests/blob_conformance.rs`).
//!
//! **Invariant:** every path is checked by [`check_path`] before any storage is touched, so no
//! path can leave the store's folder or prefix.

use async_trait::async_trait;
use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload, RetryConfig};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The longest path accepted, in bytes (S3 allows 1024 for the whole key, prefix included).
pub const MAX_PATH_BYTES: usize = 900;

/// A stored object with its entity tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub data: Bytes,
    /// A strong ETag value with its quotes, computed from the content alone (see [`etag`]), so
    /// that it is the same on every backend and every replica.
    pub etag: String,
}

impl Blob {
    /// A blob of `data`, with its ETag.
    pub fn new(data: Bytes) -> Self {
        let etag = etag(&data);
        Self { data, etag }
    }
}

/// The storage failed, or was asked for something it must not do.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob storage unavailable: {0}")]
    Unavailable(String),
    #[error("invalid blob path {0:?}")]
    InvalidPath(String),
    #[error("blob storage configuration: {0}")]
    Config(String),
}

/// Where published files are kept. Paths are relative and '/'-separated (see [`check_path`]).
#[async_trait]
pub trait BlobStore: Send + Sync + 'static + fmt::Debug {
    /// Writes atomically: readers see the old object or the new one, never a part.
    async fn put(&self, path: &str, data: Bytes) -> Result<(), BlobError>;
    async fn get(&self, path: &str) -> Result<Option<Blob>, BlobError>;
    /// Deleting a missing object is not an error.
    async fn delete(&self, path: &str) -> Result<(), BlobError>;
    /// Every path under `prefix` (a folder like "c19r/440/"), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;
    /// Human-readable description for logs (e.g. "folder /x/blobs" or "s3://bucket/prefix"), no
    /// secrets.
    fn describe(&self) -> String;
}

/// The strong ETag of some content, quotes included: the first 16 bytes of its SHA-256, in hex.
pub fn etag(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Checks a blob path: relative, '/'-separated, each segment non-empty, made of
/// `[A-Za-z0-9._-]`, and neither "." nor "..". This excludes leading slashes, backslashes,
/// drive letters and traversal, on every backend.
pub fn check_path(path: &str) -> Result<(), BlobError> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if path.len() <= MAX_PATH_BYTES && path.split('/').all(segment_ok) {
        Ok(())
    } else {
        Err(BlobError::InvalidPath(path.to_owned()))
    }
}

/// The `Content-Type` a published file is served with, from its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("zip") => "application/zip",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The `Cache-Control` a published file is served with. Export zips never change once written
/// (a new batch gets a new name), so caches may keep them; everything else (`list.json`,
/// `index.txt`, configuration files) is rewritten in place and is cached for a minute only.
pub fn cache_control(path: &str) -> &'static str {
    if path.ends_with(".zip") {
        "public, max-age=86400, immutable"
    } else {
        "public, max-age=60"
    }
}

/// Opens the blob store the configuration names: the folder `<data_dir>/blobs` (created) when
/// `blob_url` is unset, or `s3://bucket/optional/prefix`.
///
/// For S3, the standard `AWS_*` variables are read first and any `[s3]` value that is set
/// overrides them. With an endpoint (MinIO, moto, ...), requests use path style
/// (`endpoint/bucket/key`), which works on loopback without DNS.
pub fn open(config: &crate::config::ServerConfig) -> Result<Arc<dyn BlobStore>, BlobError> {
    match config.blob_url.as_deref() {
        None => folder(&config.data_dir.join("blobs")),
        Some(url) => match url.strip_prefix("s3://") {
            Some(rest) => s3(rest, &config.s3),
            None => Err(BlobError::Config(format!(
                "blob_url must be unset (a local folder) or s3://bucket/prefix, not {:?}",
                url.split_once("://").map_or(url, |(scheme, _)| scheme)
            ))),
        },
    }
}

/// A blob store in a local folder (created if missing). Writes go to a temporary file that is
/// then renamed, so they are atomic.
pub fn folder(dir: &std::path::Path) -> Result<Arc<dyn BlobStore>, BlobError> {
    Ok(Arc::new(folder_store(dir)?))
}

fn folder_store(dir: &std::path::Path) -> Result<ObjectBlobStore, BlobError> {
    let config = |e: &dyn fmt::Display| BlobError::Config(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(|e| config(&e))?;
    let store = LocalFileSystem::new_with_prefix(dir).map_err(|e| config(&e))?;
    Ok(ObjectBlobStore {
        store: Arc::new(store),
        prefix: String::new(),
        attributes: false,
        description: format!("folder {}", dir.display()),
        etags: Default::default(),
    })
}

/// A blob store in memory, empty, for tests and simulations.
pub fn in_memory() -> Arc<dyn BlobStore> {
    Arc::new(ObjectBlobStore {
        store: Arc::new(InMemory::new()),
        prefix: String::new(),
        attributes: false,
        description: "memory".into(),
        etags: Default::default(),
    })
}

/// How long one S3 operation may keep retrying. The default (three minutes) would hold a phone's
/// download for that long when the store is down; it is better to answer 503 soon.
const S3_RETRY: RetryConfig = RetryConfig {
    backoff: object_store::BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
        base: 2.0,
    },
    max_retries: 3,
    retry_timeout: Duration::from_secs(15),
};

/// `rest` is what follows `s3://`.
fn s3(rest: &str, s3: &crate::config::S3Config) -> Result<Arc<dyn BlobStore>, BlobError> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'));
    if !bucket_ok {
        return Err(BlobError::Config(format!(
            "s3://{bucket}: a bucket name is 3 to 63 characters of a-z, 0-9, '.' and '-'"
        )));
    }
    let prefix = prefix.trim_end_matches('/');
    if !prefix.is_empty() {
        check_path(prefix).map_err(|_| {
            BlobError::Config(format!(
                "s3://{bucket}/{prefix}: the prefix must be '/'-separated segments of \
                 A-Z, a-z, 0-9, '.', '_' and '-'"
            ))
        })?;
    }

    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(S3_RETRY);
    if let Some(v) = &s3.endpoint {
        builder = builder.with_endpoint(v);
    }
    if let Some(v) = &s3.access_key_id {
        builder = builder.with_access_key_id(v);
    }
    if let Some(v) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(v);
    }
    if let Some(v) = &s3.region {
        builder = builder.with_region(v);
    }
    if let Some(v) = s3.allow_http {
        builder = builder.with_allow_http(v);
    }
    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    if let Some(endpoint) = &endpoint {
        builder = builder.with_virtual_hosted_style_request(false);
        let allow_http = builder
            .get_config_value(&AmazonS3ConfigKey::Client(
                object_store::ClientConfigKey::AllowHttp,
            ))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if endpoint.starts_with("http://") && !allow_http {
            return Err(BlobError::Config(format!(
                "the S3 endpoint {} is plain HTTP: set s3.allow_http = true or AWS_ALLOW_HTTP=true",
                without_userinfo(endpoint)
            )));
        }
    }
    let store = builder
        .build()
        .map_err(|e| BlobError::Config(e.to_string()))?;

    let mut description = format!("s3://{bucket}");
    if !prefix.is_empty() {
        description = format!("{description}/{prefix}");
    }
    if let Some(endpoint) = &endpoint {
        description = format!("{description} at {}", without_userinfo(endpoint));
    }
    Ok(Arc::new(ObjectBlobStore {
        store: Arc::new(store),
        prefix: if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        },
        attributes: true,
        description,
        etags: Default::default(),
    }))
}

/// An endpoint URL without any `user:password@`, for messages.
fn without_userinfo(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://{}", &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Every backend: an `object_store` store, and a prefix ("" or ending in '/') put before every
/// path.
struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// Whether to store `Content-Type` and `Cache-Control` with each object, so that a CDN
    /// serving the bucket directly sends the same headers as the server (the local folder and
    /// memory backends cannot keep them).
    attributes: bool,
    description: String,
    etags: EtagCache,
}

/// Content ETags known to this process, by path, with the store's own version tag of the object
/// they were computed for: a blob's ETag is computed when this process writes it (or the first
/// time it reads a version another process wrote), not on every GET. On S3 the ETag also travels
/// with the object as user metadata, so no replica ever hashes what another wrote.
#[derive(Debug, Default)]
struct EtagCache {
    known: std::sync::Mutex<std::collections::HashMap<String, (String, String)>>,
    /// How many times content was hashed (for tests).
    computed: std::sync::atomic::AtomicU64,
}

/// The user-metadata name that carries the content ETag on S3 (`x-amz-meta-cocoa-etag`).
const ETAG_METADATA: &str = "cocoa-etag";

/// Content larger than this is hashed on the blocking pool, off the async runtime.
const HASH_INLINE_BYTES: usize = 64 * 1024;

impl EtagCache {
    async fn compute(&self, data: &Bytes) -> String {
        self.computed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if data.len() <= HASH_INLINE_BYTES {
            return etag(data);
        }
        let data = data.clone();
        match tokio::task::spawn_blocking(move || etag(&data)).await {
            Ok(tag) => tag,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    fn remember(&self, path: &str, version: Option<String>, etag: &str) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        match version {
            Some(version) => {
                known.insert(path.to_owned(), (version, etag.to_owned()));
            }
            None => {
                known.remove(path);
            }
        }
    }

    fn lookup(&self, path: &str, version: Option<&str>) -> Option<String> {
        let version = version?;
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .get(path)
            .filter(|(v, _)| v == version)
            .map(|(_, tag)| tag.clone())
    }

    fn forget(&self, path: &str) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
    }
}

impl fmt::Debug for ObjectBlobStore {
    // Not derived: a store's own Debug may show its credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BlobStore").field(&self.description).finish()
    }
}

impl ObjectBlobStore {
    fn location(&self, path: &str) -> Result<ObjectPath, BlobError> {
        check_path(path)?;
        let full = format!("{}{path}", self.prefix);
        // Cannot fail for a checked path, but an error is better than a panic.
        ObjectPath::parse(&full).map_err(|_| BlobError::InvalidPath(path.to_owned()))
    }
}

fn unavailable(e: object_store::Error) -> BlobError {
    BlobError::Unavailable(e.to_string())
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn put(&self, path: &str, data: Bytes) -> Result<(), BlobError> {
        let location = self.location(path)?;
        let etag = self.etags.compute(&data).await;
        let mut options = PutOptions::default();
        if self.attributes {
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, content_type(path).into());
            attributes.insert(Attribute::CacheControl, cache_control(path).into());
            attributes.insert(
                Attribute::Metadata(ETAG_METADATA.into()),
                etag.clone().into(),
            );
            options.attributes = attributes;
        }
        let written = self
            .store
            .put_opts(&location, PutPayload::from(data), options)
            .await
            .map_err(unavailable)?;
        self.etags.remember(path, written.e_tag, &etag);
        Ok(())
    }

    async fn get(&self, path: &str) -> Result<Option<Blob>, BlobError> {
        let location = self.location(path)?;
        let result = match self.store.get(&location).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        let version = result.meta.e_tag.clone();
        let carried = result
            .attributes
            .get(&Attribute::Metadata(ETAG_METADATA.into()))
            .map(|v| v.to_string())
            .filter(|tag| tag.len() == 34 && tag.starts_with('"') && tag.ends_with('"'));
        let known = carried.or_else(|| self.etags.lookup(path, version.as_deref()));
        match result.bytes().await {
            Ok(data) => {
                let etag = match known {
                    Some(etag) => etag,
                    None => {
                        let etag = self.etags.compute(&data).await;
                        self.etags.remember(path, version, &etag);
                        etag
                    }
                };
                Ok(Some(Blob { data, etag }))
            }
            // Deleted between the answer's headers and its body.
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete(&self, path: &str) -> Result<(), BlobError> {
        let location = self.location(path)?;
        self.etags.forget(path);
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        use futures::TryStreamExt;
        // A folder: "c19r/440/" and "c19r/440" both mean everything inside c19r/440 (and not
        // c19r/4400); "" means everything.
        let folder = prefix.strip_suffix('/').unwrap_or(prefix);
        let location = if folder.is_empty() {
            match self.prefix.strip_suffix('/') {
                Some(own) => Some(
                    ObjectPath::parse(own).map_err(|_| BlobError::InvalidPath(own.to_owned()))?,
                ),
                None => None,
            }
        } else {
            Some(
                self.location(folder)
                    .map_err(|_| BlobError::InvalidPath(prefix.to_owned()))?,
            )
        };
        let metas: Vec<_> = self
            .store
            .list(location.as_ref())
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut paths: Vec<String> = metas
            .into_iter()
            .filter_map(|meta| {
                let full = meta.location.as_ref();
                let path = full.strip_prefix(self.prefix.as_str())?;
                if check_path(path).is_ok() {
                    Some(path.to_owned())
                } else {
                    // Put there by hand: it could not be read or deleted through this trait.
                    tracing::warn!(object = full, "ignoring an object with an invalid name");
                    None
                }
            })
            .collect();
        paths.sort();
        Ok(paths)
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{S3Config, ServerConfig};

    #[test]
    fn paths_are_relative_plain_segments() {
        for ok in [
            "list.json",
            "c19r/440/list.json",
            "a/b-c/d_e.1.zip",
            "..a",
            "a..",
        ] {
            check_path(ok).unwrap();
        }
        let long = "a".repeat(MAX_PATH_BYTES + 1);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            ".",
            "a//b",
            "a/",
            "a\\b",
            "..\\x",
            "C:x",
            "a b",
            "a%2e",
            "é",
            "a\0b",
            long.as_str(),
        ] {
            assert!(
                matches!(check_path(bad), Err(BlobError::InvalidPath(p)) if p == bad),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn etags_are_computed_when_written_not_on_every_get() {
        let dir = tempfile::tempdir().unwrap();
        let computed =
            |s: &ObjectBlobStore| s.etags.computed.load(std::sync::atomic::Ordering::Relaxed);
        let writer = folder_store(dir.path()).unwrap();
        let big = Bytes::from(vec![7u8; 200 * 1024]);
        writer.put("c19r/440/1.zip", big.clone()).await.unwrap();
        assert_eq!(computed(&writer), 1);
        for _ in 0..10 {
            let blob = writer.get("c19r/440/1.zip").await.unwrap().unwrap();
            assert_eq!(blob.etag, etag(&big));
        }
        assert_eq!(computed(&writer), 1, "no hashing on GET");
        // Another process (a replica, or this one restarted) hashes each version once.
        let reader = folder_store(dir.path()).unwrap();
        for _ in 0..10 {
            assert_eq!(
                reader.get("c19r/440/1.zip").await.unwrap().unwrap().etag,
                etag(&big)
            );
        }
        assert_eq!(computed(&reader), 1);
        // A new version is seen as new.
        writer
            .put("c19r/440/1.zip", Bytes::from_static(b"other"))
            .await
            .unwrap();
        assert_eq!(
            reader.get("c19r/440/1.zip").await.unwrap().unwrap().etag,
            etag(b"other")
        );
        assert_eq!(computed(&reader), 2);
    }

    #[test]
    fn etags_are_quoted_sha256_prefixes() {
        // SHA-256("") = e3b0c44298fc1c149afbf4c8996fb924...
        assert_eq!(etag(b""), "\"e3b0c44298fc1c149afbf4c8996fb924\"");
        assert_eq!(Blob::new(Bytes::from_static(b"x")).etag, etag(b"x"));
    }

    #[test]
    fn types_and_caching_follow_the_extension() {
        assert_eq!(content_type("c19r/440/1-2.zip"), "application/zip");
        assert_eq!(content_type("c19r/440/list.json"), "application/json");
        assert_eq!(content_type("c19r/index.txt"), "text/plain; charset=utf-8");
        assert_eq!(content_type("c19r/x"), "application/octet-stream");
        assert_eq!(cache_control("a.zip"), "public, max-age=86400, immutable");
        assert_eq!(cache_control("c19r/440/list.json"), "public, max-age=60");
    }

    #[test]
    fn open_checks_the_url_and_settings() {
        let with = |url: &str, s3: S3Config| {
            open(&ServerConfig {
                blob_url: Some(url.into()),
                s3,
                ..Default::default()
            })
        };
        let keys = || S3Config {
            access_key_id: Some("k".into()),
            secret_access_key: Some("s3cr3t-value".into()),
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        for (url, wanted) in [
            ("gs://bucket", "\"gs\""),
            ("file:///tmp/x", "\"file\""),
            ("s3://", "bucket name"),
            ("s3://Bad_Bucket", "bucket name"),
            ("s3://bucket/../x", "prefix"),
        ] {
            let err = with(url, keys()).unwrap_err();
            assert!(
                matches!(&err, BlobError::Config(m) if m.contains(wanted)),
                "{url}: {err}"
            );
        }
        let err = with(
            "s3://bucket",
            S3Config {
                endpoint: Some("http://user:secret@127.0.0.1:1".into()),
                ..keys()
            },
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("allow_http"), "{message}");
        assert!(!message.contains("secret"), "{message}");

        let store = with(
            "s3://bucket/some/prefix/",
            S3Config {
                endpoint: Some("http://127.0.0.1:1".into()),
                allow_http: Some(true),
                ..keys()
            },
        )
        .unwrap();
        assert_eq!(
            store.describe(),
            "s3://bucket/some/prefix at http://127.0.0.1:1"
        );
        let debug = format!("{store:?}");
        assert!(debug.contains("s3://bucket/some/prefix"), "{debug}");
        assert!(!debug.contains("s3cr3t-value"), "{debug}");
    }

    #[test]
    fn the_default_is_a_folder_in_the_data_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&ServerConfig {
            data_dir: dir.path().join("data"),
            ..Default::default()
        })
        .unwrap();
        assert!(dir.path().join("data/blobs").is_dir());
        assert!(store.describe().starts_with("folder "), "{store:?}");
    }
}
