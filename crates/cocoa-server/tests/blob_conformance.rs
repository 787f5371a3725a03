//! One conformance suite for every `BlobStore`: run against a local folder, memory, and a real
//! S3-compatible server (moto; `COCOA_TEST_S3_ENDPOINT`, e.g. http://127.0.0.1:5055, required
//! under CI). Each S3 run creates its own bucket, so tests may run in parallel.

use bytes::Bytes;
use cocoa_server::blob::{self, BlobError, BlobStore};
use cocoa_server::config::ServerConfig;
use cocoa_server::testing::TestBucket;
use std::sync::Arc;

/// A store under test.
struct Backend {
    name: &'static str,
    store: Arc<dyn BlobStore>,
    /// For the local folder: the data folder that holds `blobs/`, to check nothing escapes it.
    data_dir: Option<tempfile::TempDir>,
}

/// A store in `bucket`, with `prefix` after the bucket name in the URL.
fn s3_store(bucket: &TestBucket, prefix: &str) -> Arc<dyn BlobStore> {
    let mut config = ServerConfig::default();
    bucket.configure(&mut config, prefix);
    blob::open(&config).unwrap()
}

impl Backend {
    fn local() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = blob::open(&ServerConfig {
            data_dir: dir.path().to_owned(),
            ..Default::default()
        })
        .unwrap();
        Self {
            name: "local",
            store,
            data_dir: Some(dir),
        }
    }

    async fn all() -> Vec<Self> {
        let mut all = vec![
            Self::local(),
            Self {
                name: "memory",
                store: blob::in_memory(),
                data_dir: None,
            },
        ];
        if let Some(bucket) = TestBucket::create().await {
            all.push(Self {
                name: "s3",
                // Under a prefix, so that the prefix handling is tested too.
                store: s3_store(&bucket, "/deployment/one"),
                data_dir: None,
            });
        }
        all
    }
}

fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn put_get_round_trip_with_content_etags() {
    for b in Backend::all().await {
        let s = &b.store;
        s.put("c19r/440/a.zip", bytes("first")).await.unwrap();
        s.put("c19r/440/b.zip", bytes("first")).await.unwrap();
        s.put("c19r/440/c.zip", bytes("second")).await.unwrap();
        let a = s.get("c19r/440/a.zip").await.unwrap().unwrap();
        let bb = s.get("c19r/440/b.zip").await.unwrap().unwrap();
        let c = s.get("c19r/440/c.zip").await.unwrap().unwrap();
        assert_eq!(a.data, "first", "{}", b.name);
        assert_eq!(c.data, "second", "{}", b.name);
        assert_eq!(a.etag, bb.etag, "{}: equal content, equal etag", b.name);
        assert_ne!(a.etag, c.etag, "{}: different content", b.name);
        // The same value on every backend: computed from the content.
        assert_eq!(a.etag, blob::etag(b"first"), "{}", b.name);
        assert!(
            a.etag.len() == 34 && a.etag.starts_with('"') && a.etag.ends_with('"'),
            "{}: {}",
            b.name,
            a.etag
        );

        // Overwrite.
        s.put("c19r/440/a.zip", bytes("replaced")).await.unwrap();
        let a2 = s.get("c19r/440/a.zip").await.unwrap().unwrap();
        assert_eq!(a2.data, "replaced", "{}", b.name);
        assert_eq!(a2.etag, blob::etag(b"replaced"), "{}", b.name);

        // An empty object is an object.
        s.put("empty.txt", Bytes::new()).await.unwrap();
        assert_eq!(
            s.get("empty.txt").await.unwrap().unwrap().data.len(),
            0,
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn missing_objects_and_delete() {
    for b in Backend::all().await {
        let s = &b.store;
        assert!(
            s.get("c19r/440/none.zip").await.unwrap().is_none(),
            "{}",
            b.name
        );
        // A folder is not an object.
        s.put("c19r/440/x.zip", bytes("x")).await.unwrap();
        assert!(s.get("c19r/440").await.unwrap().is_none(), "{}", b.name);
        assert!(s.get("c19r").await.unwrap().is_none(), "{}", b.name);

        s.delete("c19r/440/none.zip").await.unwrap();
        s.delete("never/was/here").await.unwrap();
        s.put("c19r/440/y.zip", bytes("y")).await.unwrap();
        s.delete("c19r/440/x.zip").await.unwrap();
        assert!(
            s.get("c19r/440/x.zip").await.unwrap().is_none(),
            "{}",
            b.name
        );
        s.delete("c19r/440/x.zip").await.unwrap();
        assert_eq!(
            s.get("c19r/440/y.zip").await.unwrap().unwrap().data,
            "y",
            "{}: a sibling survives",
            b.name
        );
        assert_eq!(s.list("").await.unwrap(), ["c19r/440/y.zip"], "{}", b.name);
    }
}

#[tokio::test]
async fn list_is_sorted_and_limited_to_the_folder() {
    for b in Backend::all().await {
        let s = &b.store;
        assert!(s.list("").await.unwrap().is_empty(), "{}", b.name);
        assert!(s.list("c19r/440/").await.unwrap().is_empty(), "{}", b.name);
        for path in [
            "c19r/440/list.json",
            "c19r/440/2.zip",
            "c19r/440/10.zip",
            "c19r/440/1.zip",
            "c19r/440/sub/x",
            "c19r/4400/x",
            "c19r/440.zip",
            "c19r/441/y",
            "c19r/index.txt",
            "top",
        ] {
            s.put(path, bytes(path)).await.unwrap();
        }
        let folder = [
            "c19r/440/1.zip",
            "c19r/440/10.zip",
            "c19r/440/2.zip",
            "c19r/440/list.json",
            "c19r/440/sub/x",
        ];
        assert_eq!(s.list("c19r/440/").await.unwrap(), folder, "{}", b.name);
        assert_eq!(
            s.list("c19r/440").await.unwrap(),
            folder,
            "{}: without the slash",
            b.name
        );
        assert_eq!(
            s.list("c19r/440/sub/").await.unwrap(),
            ["c19r/440/sub/x"],
            "{}",
            b.name
        );
        let everything = s.list("").await.unwrap();
        let mut sorted = everything.clone();
        sorted.sort();
        assert_eq!(everything, sorted, "{}", b.name);
        assert_eq!(everything.len(), 10, "{}: {everything:?}", b.name);
        assert!(s.list("nothing/").await.unwrap().is_empty(), "{}", b.name);
        assert!(s.list("c19r/44/").await.unwrap().is_empty(), "{}", b.name);
        for bad in ["../", "/c19r/", "c19r//", "c19r\\440/"] {
            assert!(
                matches!(s.list(bad).await, Err(BlobError::InvalidPath(_))),
                "{}: {bad:?}",
                b.name
            );
        }
    }
}

const BAD_PATHS: &[&str] = &[
    "",
    "/abs",
    "/etc/passwd",
    "../escape",
    "c19r/../../escape",
    "c19r/./x",
    "c19r//x",
    "c19r/",
    "..",
    "..\\escape",
    "c19r\\x",
    "c19r/x y",
    "c19r/%2e%2e/x",
];

#[tokio::test]
async fn invalid_paths_are_rejected_without_touching_storage() {
    for b in Backend::all().await {
        let s = &b.store;
        for bad in BAD_PATHS {
            let put = s.put(bad, bytes("evil")).await;
            assert!(
                matches!(put, Err(BlobError::InvalidPath(_))),
                "{}: put {bad:?}: {put:?}",
                b.name
            );
            let get = s.get(bad).await;
            assert!(
                matches!(get, Err(BlobError::InvalidPath(_))),
                "{}: get {bad:?}: {get:?}",
                b.name
            );
            let delete = s.delete(bad).await;
            assert!(
                matches!(delete, Err(BlobError::InvalidPath(_))),
                "{}: delete {bad:?}: {delete:?}",
                b.name
            );
        }
        assert!(s.list("").await.unwrap().is_empty(), "{}", b.name);
        if let Some(dir) = &b.data_dir {
            let entries: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(entries, ["blobs"], "nothing written beside the folder");
            assert_eq!(
                std::fs::read_dir(dir.path().join("blobs")).unwrap().count(),
                0
            );
        }
    }
}

/// The checks come before any I/O: against a store nobody answers, a bad path is still
/// `InvalidPath`, while a good one is `Unavailable`.
#[tokio::test]
async fn bad_paths_never_reach_the_store_and_a_dead_store_is_unavailable() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let store = blob::open(&ServerConfig {
        blob_url: Some("s3://nobody-home".into()),
        s3: TestBucket {
            endpoint: format!("http://{closed}"),
            bucket: String::new(),
        }
        .s3_config(),
        ..Default::default()
    })
    .unwrap();
    for bad in BAD_PATHS {
        assert!(matches!(
            store.put(bad, bytes("x")).await,
            Err(BlobError::InvalidPath(_))
        ));
        assert!(matches!(
            store.get(bad).await,
            Err(BlobError::InvalidPath(_))
        ));
    }
    let err = store.get("c19r/440/list.json").await.unwrap_err();
    assert!(matches!(err, BlobError::Unavailable(_)), "{err}");
    let err = store
        .put("c19r/440/list.json", bytes("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, BlobError::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn a_three_megabyte_object() {
    // Deterministic, incompressible-looking content.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let data: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let data = Bytes::from(data);
    for b in Backend::all().await {
        b.store.put("c19r/440/big.zip", data.clone()).await.unwrap();
        let back = b.store.get("c19r/440/big.zip").await.unwrap().unwrap();
        assert!(back.data == data, "{}: 3 MB read back exactly", b.name);
        assert_eq!(back.etag, blob::etag(&data), "{}", b.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_of_different_objects() {
    for b in Backend::all().await {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = b.store.clone();
                tokio::spawn(async move {
                    store
                        .put(
                            &format!("c19r/440/{i:02}.zip"),
                            bytes(&format!("batch {i}")),
                        )
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let listed = b.store.list("c19r/440/").await.unwrap();
        let wanted: Vec<String> = (0..16).map(|i| format!("c19r/440/{i:02}.zip")).collect();
        assert_eq!(listed, wanted, "{}", b.name);
        for i in 0..16 {
            let blob = b
                .store
                .get(&format!("c19r/440/{i:02}.zip"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(blob.data, format!("batch {i}"), "{}", b.name);
        }
    }
}

/// Readers racing a writer that keeps replacing one object see a whole old or a whole new
/// version, never a mixture or a truncated one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overwrites_are_atomic_for_readers() {
    const SIZE: usize = 256 * 1024;
    const ROUNDS: usize = 12;
    for b in Backend::all().await {
        let path = "c19r/440/list.json";
        b.store
            .put(path, Bytes::from(vec![b'a'; SIZE]))
            .await
            .unwrap();
        let writer = {
            let store = b.store.clone();
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let byte = if round % 2 == 0 { b'b' } else { b'a' };
                    store
                        .put(path, Bytes::from(vec![byte; SIZE]))
                        .await
                        .unwrap();
                }
            })
        };
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let store = b.store.clone();
                tokio::spawn(async move {
                    for _ in 0..ROUNDS {
                        let blob = store.get(path).await.unwrap().expect("never missing");
                        let first = blob.data[0];
                        assert!(
                            blob.data.len() == SIZE && blob.data.iter().all(|&x| x == first),
                            "a partial object: {} bytes",
                            blob.data.len()
                        );
                        assert_eq!(blob.etag, blob::etag(&blob.data));
                    }
                })
            })
            .collect();
        writer.await.unwrap();
        for r in readers {
            r.await
                .unwrap_or_else(|e| panic!("{}: reader failed: {e}", b.name));
        }
    }
}

/// The S3 prefix in `blob_url` is where objects really go, and a store without it sees them
/// there; the description names the bucket but no credentials.
#[tokio::test]
async fn s3_prefix_places_objects_under_it() {
    let Some(test_bucket) = TestBucket::create().await else {
        return;
    };
    let (endpoint, bucket) = (&test_bucket.endpoint, &test_bucket.bucket);
    let prefixed = s3_store(&test_bucket, "/deployment/one/");
    let whole = s3_store(&test_bucket, "");
    prefixed
        .put("c19r/440/list.json", bytes("[]"))
        .await
        .unwrap();
    whole.put("c19r/outside", bytes("x")).await.unwrap();
    assert_eq!(
        whole.list("").await.unwrap(),
        ["c19r/outside", "deployment/one/c19r/440/list.json"]
    );
    assert_eq!(prefixed.list("").await.unwrap(), ["c19r/440/list.json"]);
    assert!(prefixed.get("c19r/outside").await.unwrap().is_none());
    assert_eq!(
        prefixed.describe(),
        format!("s3://{bucket}/deployment/one at {endpoint}")
    );
    assert!(!format!("{prefixed:?}{}", prefixed.describe()).contains("testing"));
}
