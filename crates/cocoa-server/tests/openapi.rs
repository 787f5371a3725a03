//! `GET /openapi.json` against the real router: the document is OpenAPI 3.1, it lists exactly the
//! (method, path) pairs the router serves, its schemas name the fields serde writes, it lists every
//! error and warning code the server sends, and real answers fit the responses it documents.
//!
//! The document and the server agree on requests too: every example request body in it is
//! accepted by the real server (`openapi_examples_are_accepted`), and a table of values at the
//! edges of each request schema gets the same verdict from the document (through `allows`, the
//! schema keywords the document uses, checked here independently of the server) and from the
//! server (`the_document_and_the_validation_agree`).
//!
//! The published files are served by one wildcard route, `/c19r/{*path}`; the document lists
//! the files under it as separate paths (`/c19r/{region}/list.json`, ...), which are probed with
//! their parameters filled in, after an export run has published every kind of file.
//!
//! What the connection layer answers (`App::serve`, not the router) is checked against the real
//! server on a port: a body that does not arrive in time (408 `request_timeout`), exactly on the
//! operations the document lists it for, and a connection beyond the cap (503 `overloaded`), on
//! every operation.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use cocoa_api::configuration::Criterion;
use cocoa_api::{
    codes, DiagnosisRequest, DiagnosisRequestKey, DiagnosisResponse, ErrorBody, EventLogEntry,
    EventLogRequest, ExposureConfiguration, IssueNumbersRequest, IssueNumbersResponse,
    IssuedNumber, KeyWarning, ListEntry, RegistrationStats, RegistrationStatsDay,
    RiskCalculationConfiguration, SigningKeyInfo, SurveyContent, SurveyDay, SurveyExposureData,
};
use cocoa_server::export::{ExportReport, PublishedFile};
use cocoa_server::registration::epoch_day;
use cocoa_server::{App, Clock, ManualClock, ServerConfig, SystemClock};
use gaen::{ExportVerifier, SignedExport};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Connection;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

const TOKEN: &str = "openapi-test-token-0123456789";

/// The paths that require the admin token, and only they.
const ADMIN_PATHS: [&str; 3] = [
    "/api/v1/processing-numbers",
    "/api/v1/admin/export",
    "/metrics",
];

/// Every stable error code of `cocoa_api::codes` (checked against its source); the server can
/// send each of them.
const ERROR_CODES: [&str; 24] = [
    codes::PROCESSING_NUMBER_INVALID,
    codes::PROCESSING_NUMBER_EXPIRED,
    codes::PROCESSING_NUMBER_USED,
    codes::BAD_REQUEST,
    codes::UNSUPPORTED_REGION,
    codes::INVALID_KEYS,
    codes::NO_KEYS_IN_WINDOW,
    codes::INVALID_ONSET_DATE,
    codes::PAYLOAD_TOO_LARGE,
    codes::RATE_LIMITED,
    codes::STORAGE_UNAVAILABLE,
    codes::UNAUTHORIZED,
    codes::NOT_FOUND,
    codes::METHOD_NOT_ALLOWED,
    codes::INTERNAL,
    codes::LENGTH_REQUIRED,
    codes::INVALID_SURVEY,
    codes::SURVEY_CLOSED,
    codes::MALFORMED_BODY,
    codes::UNSUPPORTED_MEDIA_TYPE,
    codes::INVALID_PATH,
    codes::REQUEST_TIMEOUT,
    codes::OVERLOADED,
    codes::NUMBERS_EXHAUSTED,
];

/// Slack on every bound of the tests against the real server: they share two cores.
const SLACK: Duration = Duration::from_secs(5);

/// The header every JSON request body is sent with.
const JSON: (&str, &str) = ("content-type", "application/json");

/// The methods probed on every path. `HEAD` is checked apart: axum answers it wherever it answers
/// `GET`, and the document says so once instead of repeating every `GET` operation.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::TRACE,
];

/// Paths the router must not serve: near misses of real ones and COCOA endpoints not built here.
const UNSERVED_PATHS: [&str; 18] = [
    "/",
    "/nope",
    "/api",
    "/api/v1/diagnosis",
    "/api/v4/diagnosis",
    "/api/v2/diagnosis/",
    "/api/v1/processing-numbers/12345678",
    "/api/v2/processing-numbers",
    "/api/v1/event_log/",
    "/api/v2/event_log",
    "/healthz/",
    "/openapi.yaml",
    "/portal/index.html",
    "/api/v1/admin",
    "/api/v1/admin/export/now",
    "/api/v1/export-signing-keys/",
    "/c19r",
    "/c19r/",
];

/// Files that do not exist, under the route of the published files, with the documented path
/// each request falls under: the route answers them (404 `not_found`, "no such file").
const MISSING_FILES: [(&str, &str); 4] = [
    ("/c19r/{region}/{file}.zip", "/c19r/440/0.zip"),
    ("/report/tables/{table}.csv", "/report/tables/nope.csv"),
    ("/c19r/{region}/list.json", "/c19r/999/list.json"),
    ("/c19r/{region}/index.txt", "/c19r/999/index.txt"),
];

/// An answer from the router.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn media_type(&self) -> String {
        let value = self
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("");
        value.split(';').next().unwrap().trim().to_owned()
    }

    /// `{"error", "message"}` with exactly those two string fields; returns the code.
    fn error_code(&self) -> String {
        assert_eq!(self.media_type(), "application/json", "{self:?}");
        let body = self.json();
        let fields: BTreeSet<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, BTreeSet::from(["error", "message"]), "{body}");
        assert!(body["message"].is_string(), "{body}");
        body["error"].as_str().unwrap().to_owned()
    }

    /// Whether a route answered, rather than the router's "no such endpoint" or "wrong method".
    fn served(&self) -> bool {
        match self.status {
            StatusCode::METHOD_NOT_ALLOWED => {
                assert_eq!(self.error_code(), codes::METHOD_NOT_ALLOWED);
                false
            }
            StatusCode::NOT_FOUND => self.error_code() != codes::NOT_FOUND,
            _ => true,
        }
    }
}

async fn app() -> (tempfile::TempDir, App) {
    app_with(|_| {}).await
}

async fn app_with(tweak: impl FnOnce(&mut ServerConfig)) -> (tempfile::TempDir, App) {
    app_at(Arc::new(SystemClock), tweak).await
}

async fn app_at(
    clock: Arc<dyn Clock>,
    tweak: impl FnOnce(&mut ServerConfig),
) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig {
        // A folder the server creates itself, with the mode it wants for its secrets.
        data_dir: dir.path().join("data"),
        admin_token: Some(TOKEN.into()),
        ..Default::default()
    };
    tweak(&mut config);
    let app = App::open(config, clock).await.unwrap();
    (dir, app)
}

async fn send(
    app: &App,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .router()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

async fn document(app: &App) -> Value {
    let answer = send(app, Method::GET, "/openapi.json", &[], Body::empty()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.media_type(), "application/json");
    answer.json()
}

/// The (method, path) pairs the document lists, methods in upper case.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    const OPERATIONS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    const OTHER_FIELDS: [&str; 5] = ["summary", "description", "servers", "parameters", "$ref"];
    let mut pairs = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for key in item.as_object().unwrap().keys() {
            if OPERATIONS.contains(&key.as_str()) {
                pairs.insert((key.to_ascii_uppercase(), path.clone()));
            } else {
                assert!(
                    OTHER_FIELDS.contains(&key.as_str()),
                    "{path}: unexpected field {key}"
                );
            }
        }
    }
    pairs
}

/// The paths `router()` registers, read from its source, so that a route added there without
/// being documented is probed too. Fails if the router stops being a flat list of `.route(..)`.
fn router_source_paths() -> BTreeSet<String> {
    let source = include_str!("../src/http/mod.rs");
    for composed in [".nest(", ".merge(", ".route_service(", ".nest_service("] {
        assert!(
            !source.contains(composed),
            "router() uses {composed}: probe its paths here"
        );
    }
    let paths: BTreeSet<String> = source
        .split(".route(\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    assert!(!paths.is_empty());
    paths
}

/// The fixed part of a wildcard route (`/c19r/` of `/c19r/{*path}`), which matches every path
/// that continues it with at least one character.
fn wildcard_prefix(route: &str) -> Option<&str> {
    route.split_once("{*").map(|(prefix, _)| prefix)
}

/// A documented path with its parameters (`{name}`) replaced by `values`.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let filled = values
        .iter()
        .fold(template.to_owned(), |path, (name, value)| {
            path.replace(&format!("{{{name}}}"), value)
        });
    assert!(
        !filled.contains('{'),
        "{template}: a parameter has no value"
    );
    filled
}

/// Whether a request path is an instance of a documented path: segment by segment, a segment
/// with a parameter (`{file}.zip`) matches any non-empty text between its fixed parts.
fn matches(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| match t.split_once('{').zip(t.split_once('}')) {
                None => t == p,
                Some(((before, _), (_, after))) => {
                    p.len() > before.len() + after.len()
                        && p.starts_with(before)
                        && p.ends_with(after)
                }
            })
}

/// The documented path a request path falls under: itself, or the one template it matches.
fn documented_path(doc: &Value, path: &str) -> String {
    let paths = doc["paths"].as_object().unwrap();
    if paths.contains_key(path) {
        return path.to_owned();
    }
    let found: Vec<&String> = paths.keys().filter(|t| matches(t, path)).collect();
    assert_eq!(found.len(), 1, "{path} falls under {found:?}");
    found[0].clone()
}

/// Follows a local `$ref` (`#/a/b`), repeatedly.
fn resolve<'a>(doc: &'a Value, mut node: &'a Value) -> &'a Value {
    while let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {reference}"));
        node = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"));
    }
    node
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("unknown JSON Schema type {other}"),
    }
}

/// The part of JSON Schema the document uses: `$ref`, `type`, `const`, `enum`, `oneOf`,
/// `if`/`then`, `required`, `properties`, `additionalProperties: false`, `items`, `minItems`,
/// `maxItems`, `minLength`, `maxLength` (in code points), `minimum`, `maximum`, `pattern` (the
/// few forms the document uses, see [`pattern_matches`]) and, as the document's conventions
/// say, the formats `date` and `date-time` as assertions. Any other keyword that constrains
/// values is an error, so that the document cannot say more than this checks. Stricter than
/// JSON Schema in one way: an object schema (`type: object`) with `properties` must list every
/// field, so a field the server adds must be documented.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    check(doc, schema, value, at, true)
}

/// Whether the document allows `value` as an instance of `schema`, with JSON Schema's own rule
/// for fields a schema does not list: allowed unless `additionalProperties` is false.
fn allows(doc: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    check(doc, schema, value, "", false)
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, strict: bool) -> Result<(), String> {
    let validate = |doc: &Value, schema: &Value, value: &Value, at: &str| {
        check(doc, schema, value, at, strict)
    };
    const KNOWN: [&str; 26] = [
        "$ref",
        "type",
        "const",
        "enum",
        "oneOf",
        "if",
        "then",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "pattern",
        "format",
        // Annotations.
        "description",
        "examples",
        "default",
        "contentEncoding",
        "summary",
        "title",
        "example",
    ];
    let schema = resolve(doc, schema);
    for keyword in schema.as_object().into_iter().flat_map(|o| o.keys()) {
        assert!(
            KNOWN.contains(&keyword.as_str()),
            "{at}: the schema keyword {keyword} is not checked by this test"
        );
    }
    if let Some(expected) = schema.get("const") {
        if expected != value {
            return Err(format!("{at}: {value} is not {expected}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(choices) = schema.get("oneOf").and_then(Value::as_array) {
        let fits = choices
            .iter()
            .filter(|c| validate(doc, c, value, at).is_ok())
            .count();
        if fits != 1 {
            return Err(format!(
                "{at}: {value} fits {fits} of the oneOf choices, not 1"
            ));
        }
    }
    if let Some(condition) = schema.get("if") {
        if validate(doc, condition, value, at).is_ok() {
            if let Some(then) = schema.get("then") {
                validate(doc, then, value, at)?;
            }
        }
    }
    let object_schema = match schema.get("type") {
        Some(types) => {
            let names: Vec<&str> = match types {
                Value::String(name) => vec![name.as_str()],
                Value::Array(names) => names.iter().map(|n| n.as_str().unwrap()).collect(),
                other => panic!("{at}: bad type {other}"),
            };
            if !names.iter().any(|name| type_matches(name, value)) {
                return Err(format!("{at}: {value} is not of type {names:?}"));
            }
            names.contains(&"object")
        }
        None => false,
    };
    if let Value::Object(fields) = value {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !fields.contains_key(name.as_str().unwrap()) {
                return Err(format!("{at}: required field {name} is missing"));
            }
        }
        let additional = schema.get("additionalProperties");
        let closed = additional == Some(&Value::Bool(false));
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, field) in fields {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => validate(doc, field_schema, field, &format!("{at}.{name}"))?,
                None if additional.is_some_and(Value::is_object) => {
                    validate(doc, additional.unwrap(), field, &format!("{at}.{name}"))?
                }
                None if closed => {
                    return Err(format!("{at}: field {name:?} is not allowed"));
                }
                None if strict && object_schema && properties.is_some() => {
                    return Err(format!("{at}: field {name:?} is not documented"));
                }
                None => {}
            }
        }
    }
    if let Value::Array(items) = value {
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(doc, item_schema, item, &format!("{at}[{i}]"))?;
            }
        }
        let len = items.len() as u64;
        if schema
            .get("minItems")
            .is_some_and(|m| len < m.as_u64().unwrap())
        {
            return Err(format!("{at}: fewer than minItems items"));
        }
        if schema
            .get("maxItems")
            .is_some_and(|m| len > m.as_u64().unwrap())
        {
            return Err(format!("{at}: more than maxItems items"));
        }
    }
    if let Value::String(text) = value {
        let len = text.chars().count() as u64;
        if schema
            .get("minLength")
            .is_some_and(|m| len < m.as_u64().unwrap())
        {
            return Err(format!("{at}: {value} is shorter than minLength"));
        }
        if schema
            .get("maxLength")
            .is_some_and(|m| len > m.as_u64().unwrap())
        {
            return Err(format!("{at}: {value} is longer than maxLength"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            if !pattern_matches(pattern, text) {
                return Err(format!("{at}: {value} does not match {pattern}"));
            }
        }
        match schema.get("format").and_then(Value::as_str) {
            Some("date") if !is_full_date(text) => {
                return Err(format!("{at}: {value} is not an RFC 3339 full-date"));
            }
            Some("date-time") if !is_date_time(text) => {
                return Err(format!("{at}: {value} is not an RFC 3339 date-time"));
            }
            _ => {}
        }
    }
    if let Value::Number(n) = value {
        // i128 holds every JSON integer serde_json reads; other numbers compare as f64.
        let as_i128 = |v: &Value| {
            v.as_i64()
                .map(i128::from)
                .or_else(|| v.as_u64().map(i128::from))
        };
        let below = |bound: &Value| match (as_i128(value), as_i128(bound)) {
            (Some(v), Some(b)) => v < b,
            _ => n.as_f64().unwrap() < bound.as_f64().unwrap(),
        };
        let above = |bound: &Value| match (as_i128(value), as_i128(bound)) {
            (Some(v), Some(b)) => v > b,
            _ => n.as_f64().unwrap() > bound.as_f64().unwrap(),
        };
        if schema.get("minimum").is_some_and(below) {
            return Err(format!("{at}: {value} is below the minimum"));
        }
        if schema.get("maximum").is_some_and(above) {
            return Err(format!("{at}: {value} is above the maximum"));
        }
    }
    Ok(())
}

/// A regular expression of the forms the document uses: `^`, then atoms (a literal
/// character, or a class `[...]` of characters and ranges) each with an optional `{n}` or `+`,
/// then `$`. Panics on anything else, so the document cannot use a pattern this does not check.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    #[derive(Debug)]
    enum Atom {
        One(char),
        Class(Vec<(char, char)>),
    }
    let body = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .unwrap_or_else(|| panic!("pattern {pattern} is not anchored"));
    let mut atoms: Vec<(Atom, usize, bool)> = Vec::new(); // (atom, min, more allowed)
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        let atom = match c {
            '[' => {
                let mut ranges = Vec::new();
                let mut class: Vec<char> = Vec::new();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    class.push(c);
                }
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        ranges.push((class[i], class[i + 2]));
                        i += 3;
                    } else {
                        ranges.push((class[i], class[i]));
                        i += 1;
                    }
                }
                Atom::Class(ranges)
            }
            '\\' | '(' | ')' | '|' | '?' | '*' | '.' | '{' | '+' => {
                panic!("pattern {pattern}: {c} is not supported here")
            }
            other => Atom::One(other),
        };
        let (min, more) = match chars.peek() {
            Some('+') => {
                chars.next();
                (1, true)
            }
            Some('{') => {
                chars.next();
                let n: String = chars.by_ref().take_while(|c| *c != '}').collect();
                (
                    n.parse().unwrap_or_else(|_| panic!("pattern {pattern}")),
                    false,
                )
            }
            _ => (1, false),
        };
        atoms.push((atom, min, more));
    }
    fn fits(atom: &Atom, c: char) -> bool {
        match atom {
            Atom::One(x) => *x == c,
            Atom::Class(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)),
        }
    }
    fn go(atoms: &[(Atom, usize, bool)], text: &[char]) -> bool {
        let Some(((atom, min, more), rest)) = atoms.split_first() else {
            return text.is_empty();
        };
        let run = text.iter().take_while(|c| fits(atom, **c)).count();
        if run < *min {
            return false;
        }
        let longest = if *more { run } else { *min };
        (*min..=longest).rev().any(|n| go(rest, &text[n..]))
    }
    let text: Vec<char> = text.chars().collect();
    go(&atoms, &text)
}

/// RFC 3339 `full-date`, checked here independently of the server's parser.
fn is_full_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
        && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// RFC 3339 `date-time` (section 5.6 ABNF; `T` and `Z` in either case, section 5.6's note).
fn is_date_time(text: &str) -> bool {
    let (Some(date), Some(rest)) = (text.get(..10), text.get(10..)) else {
        return false;
    };
    let Some(time) = rest.strip_prefix(['T', 't']) else {
        return false;
    };
    let two = |s: &str, max: u32| {
        s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().unwrap() <= max
    };
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => time.split_at(i),
        None => return false,
    };
    let offset_ok = matches!(offset, "Z" | "z")
        || (offset.len() == 6
            && offset.as_bytes()[3] == b':'
            && two(&offset[1..3], 23)
            && two(&offset[4..6], 59));
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    is_full_date(date)
        && offset_ok
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        && parts.len() == 3
        && two(parts[0], 23)
        && two(parts[1], 59)
        && two(parts[2], 60)
}

/// Headers that tell a client what to do: an answer that carries one must document it.
const SIGNIFICANT_HEADERS: [header::HeaderName; 4] = [
    header::RETRY_AFTER,
    header::WWW_AUTHENTICATE,
    header::CACHE_CONTROL,
    header::ETAG,
];

/// Checks that `answer` is a response the document gives for this operation: its status is
/// listed, its documented headers are present when `required` and fit their schema when
/// present, every one of [`SIGNIFICANT_HEADERS`] it carries is documented, and its body fits
/// the documented content.
fn check_answer(doc: &Value, method: &Method, path: &str, answer: &Answer) {
    let operation = &doc["paths"][path][method.as_str().to_ascii_lowercase()];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let response = operation["responses"]
        .get(answer.status.as_str())
        .unwrap_or_else(|| {
            panic!(
                "{method} {path}: status {} is not documented",
                answer.status
            )
        });
    let response = resolve(doc, response);
    let documented_headers: BTreeSet<String> = response
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    for name in SIGNIFICANT_HEADERS {
        assert!(
            !answer.headers.contains_key(&name) || documented_headers.contains(name.as_str()),
            "{method} {path} {}: header {name} is sent but not documented",
            answer.status
        );
    }
    for (name, spec) in response
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let spec = resolve(doc, spec);
        let Some(value) = answer.headers.get(name.as_str()) else {
            assert!(
                spec.get("required") != Some(&Value::Bool(true)),
                "{method} {path} {}: header {name} missing",
                answer.status
            );
            continue;
        };
        let value = value.to_str().unwrap();
        let schema = &spec["schema"];
        // A header is text; a schema of a number reads it as one.
        let value = match schema["type"].as_str() {
            Some("integer" | "number") => serde_json::from_str::<Value>(value).unwrap(),
            _ => json!(value),
        };
        validate(doc, schema, &value, name).unwrap();
    }
    match response.get("content").and_then(Value::as_object) {
        None => assert!(
            answer.body.is_empty(),
            "{method} {path} {}: unexpected body",
            answer.status
        ),
        Some(content) => {
            let (_, media) = content
                .iter()
                .find(|(key, _)| key.split(';').next().unwrap().trim() == answer.media_type())
                .unwrap_or_else(|| {
                    panic!(
                        "{method} {path} {}: {} not documented",
                        answer.status,
                        answer.media_type()
                    )
                });
            if answer.media_type() == "application/json" {
                let at = format!("{method} {path} {}", answer.status);
                validate(doc, &media["schema"], &answer.json(), &at).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    assert_eq!(
        doc,
        serde_json::from_str::<Value>(include_str!("../src/http/openapi.json")).unwrap()
    );
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    fn walk(doc: &Value, node: &Value) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(_)) = map.get("$ref") {
                    resolve(doc, node);
                }
                map.values().for_each(|v| walk(doc, v));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(doc, v)),
            _ => {}
        }
    }
    walk(&doc, &doc);
    // The admin endpoints require the bearer scheme the document defines; nothing else does.
    assert_eq!(
        doc["components"]["securitySchemes"]["adminToken"]["scheme"],
        "bearer"
    );
    for (method, path) in documented(&doc) {
        let operation = &doc["paths"][&path][method.to_ascii_lowercase()];
        assert!(operation["operationId"].is_string() && operation["summary"].is_string());
        let secured = operation.get("security").is_some();
        assert_eq!(
            secured,
            ADMIN_PATHS.contains(&path.as_str()),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn documented_routes_are_exactly_the_routes_served() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    // Publish one file of every kind, so that every documented download answers 200.
    let zip = publish(&app, &doc).await;
    let file = zip
        .strip_prefix("/c19r/440/")
        .and_then(|f| f.strip_suffix(".zip"))
        .unwrap_or_else(|| panic!("{zip}"));
    let values = [("region", "440"), ("file", file), ("table", "age")];

    let documented = documented(&doc);
    let documented_paths: BTreeSet<String> = documented.iter().map(|(_, p)| p.clone()).collect();
    let (wildcards, routes): (BTreeSet<String>, BTreeSet<String>) = router_source_paths()
        .into_iter()
        .partition(|route| wildcard_prefix(route).is_some());
    let prefixes: Vec<&str> = wildcards
        .iter()
        .filter_map(|w| wildcard_prefix(w))
        .collect();
    // A documented path is a route, or lies under a wildcard route; each wildcard route has
    // documented paths under it.
    for path in &documented_paths {
        assert!(
            routes.contains(path) || prefixes.iter().any(|p| path.starts_with(p)),
            "{path} is neither a route nor under a wildcard route"
        );
    }
    for prefix in &prefixes {
        assert!(
            documented_paths.iter().any(|p| p.starts_with(prefix)),
            "no documented path under {prefix}"
        );
    }

    // (documented path or the path itself, request path). A wildcard route is probed through
    // the documented paths under it, and through files that do not exist.
    let mut candidates: BTreeSet<(String, String)> = documented_paths
        .iter()
        .chain(&routes)
        .map(|p| (p.clone(), fill(p, &values)))
        .collect();
    candidates.extend(
        UNSERVED_PATHS
            .iter()
            .map(|p| (p.to_string(), p.to_string())),
    );
    for (template, path) in MISSING_FILES {
        assert!(
            matches(template, path),
            "{path} is not an instance of {template}"
        );
        assert!(prefixes.iter().any(|p| path.starts_with(p)), "{path}");
        candidates.insert((template.to_owned(), path.to_owned()));
    }

    let mut served = BTreeSet::new();
    for (path, uri) in &candidates {
        if documented_paths.contains(path) {
            assert_eq!(&documented_path(&doc, uri), path, "{uri}");
        }
        // Plain requests: no token, an empty body. Each route still answers (401, 400, 200).
        let mut answers = Vec::new();
        for method in &METHODS {
            answers.push((
                method,
                send(&app, method.clone(), uri, &[], Body::empty()).await,
            ));
        }
        // A path has a route when a method is refused with 405. Then a 404 is the route's own
        // answer (no such file under `/c19r/`), not the router's "no such endpoint".
        let routed = answers
            .iter()
            .any(|(_, answer)| answer.status == StatusCode::METHOD_NOT_ALLOWED);
        for (method, answer) in &answers {
            if answer.served() || (routed && answer.status == StatusCode::NOT_FOUND) {
                check_answer(&doc, method, path, answer);
                served.insert((method.as_str().to_owned(), path.clone()));
            }
        }
        let head = send(&app, Method::HEAD, uri, &[], Body::empty()).await;
        let head_served = match head.status {
            StatusCode::METHOD_NOT_ALLOWED => false,
            StatusCode::NOT_FOUND => routed,
            _ => true,
        };
        let get = documented.contains(&("GET".to_owned(), path.clone()));
        assert_eq!(head_served, get, "HEAD {uri}");
        if get && ADMIN_PATHS.contains(&path.as_str()) {
            // Asked without the token.
            assert_eq!(head.status, StatusCode::UNAUTHORIZED, "HEAD {uri}");
        } else if get && !MISSING_FILES.contains(&(path.as_str(), uri.as_str())) {
            // HEAD answers as GET does: the file, or the redirect of `/report`.
            let (_, get_answer) = answers
                .iter()
                .find(|(method, _)| **method == Method::GET)
                .expect("GET is among the methods sent");
            assert!(
                [StatusCode::OK, StatusCode::PERMANENT_REDIRECT].contains(&get_answer.status),
                "GET {uri}: {}",
                get_answer.status
            );
            assert_eq!(head.status, get_answer.status, "HEAD {uri}");
        }
    }
    assert_eq!(
        served, documented,
        "served (left) and documented (right) differ"
    );
    for path in UNSERVED_PATHS {
        assert!(!documented_paths.contains(path), "{path}");
        assert!(!documented_paths.iter().any(|t| matches(t, path)), "{path}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_404_and_405() {
    let (_dir, app) = app().await;
    let cases = [
        (
            Method::GET,
            "/api/v2/diagnosis",
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
        ),
        (
            Method::POST,
            "/api/v3/diagnosis",
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
        ),
        (
            Method::GET,
            "/api/v1/processing-numbers",
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
        ),
        (
            Method::DELETE,
            "/healthz",
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
        ),
        (
            Method::PUT,
            "/portal",
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
        ),
        (
            Method::GET,
            "/nope",
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
        ),
        (
            Method::PUT,
            "/api/v1/diagnosis",
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
        ),
        (
            Method::GET,
            "/healthz/",
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
        ),
        (
            Method::GET,
            "/api/v1/admin/export",
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
        ),
        (
            Method::POST,
            "/api/v1/export-signing-keys",
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
        ),
        // Under `/c19r/` every path has the route: a missing file is 404, a wrong method 405.
        (
            Method::PUT,
            "/c19r/440/list.json",
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
        ),
        (
            Method::DELETE,
            "/c19r/no/such/file",
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
        ),
        (
            Method::GET,
            "/c19r/no/such/file",
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
        ),
        (
            Method::GET,
            "/c19r/",
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
        ),
    ];
    for (method, path, status, code) in cases {
        let answer = send(&app, method.clone(), path, &[], Body::empty()).await;
        assert_eq!(answer.status, status, "{method} {path}");
        assert_eq!(answer.error_code(), code, "{method} {path}");
    }
}

/// The `const`s of a `oneOf` list of codes, each of which must carry a description.
fn listed_codes(doc: &Value, schema: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][schema]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|choice| {
            let description = choice["description"].as_str().unwrap_or("");
            assert!(
                description.len() > 20,
                "{schema}: {choice} needs a sentence"
            );
            choice["const"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The values of the constants in `cocoa_api::codes`, read from its source.
fn api_error_codes() -> BTreeSet<String> {
    let source = include_str!("../../cocoa-api/src/lib.rs");
    let block = source
        .split("pub mod codes {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("cocoa_api has `pub mod codes`");
    block
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .map(|rest| rest.split('"').nth(1).unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_error_and_warning_code_is_documented() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    let expected: BTreeSet<String> = ERROR_CODES.iter().map(|c| c.to_string()).collect();
    assert_eq!(expected.len(), ERROR_CODES.len());
    assert_eq!(
        api_error_codes(),
        expected,
        "ERROR_CODES and cocoa_api::codes"
    );
    assert_eq!(listed_codes(&doc, "ErrorCode"), expected);
    // Each code also appears with the responses that carry it.
    let responses = format!("{}{}", doc["paths"], doc["components"]["responses"]);
    for code in ERROR_CODES {
        assert!(
            responses.contains(&format!("`{code}`")),
            "{code} is in no response description"
        );
    }
    // Warning codes are literals in the registration rules.
    let rules = include_str!("../src/registration.rs");
    let warnings: BTreeSet<String> = rules
        .split("code: \"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert_eq!(listed_codes(&doc, "WarningCode"), warnings);
}

/// The field names serde writes for a value, which must be the schema's properties, exactly.
fn fields_of(value: &impl Serialize) -> BTreeSet<String> {
    serde_json::to_value(value)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
    schema(doc, name)["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// A request schema's `required` is what serde cannot do without: removing a required field
/// from a full example fails to deserialize, removing any other does not.
fn check_required_to_read<T: DeserializeOwned>(doc: &Value, name: &str, full: &impl Serialize) {
    let full = serde_json::to_value(full).unwrap();
    let required = names(&schema(doc, name)["required"]);
    for field in properties(doc, name) {
        let mut partial = full.clone();
        partial.as_object_mut().unwrap().remove(&field);
        let readable = serde_json::from_value::<T>(partial).is_ok();
        assert_eq!(readable, !required.contains(&field), "{name}.{field}");
    }
}

fn key(i: u8, rolling_start_number: i64) -> DiagnosisRequestKey {
    DiagnosisRequestKey {
        key_data: STANDARD.encode([i; 16]),
        rolling_start_number,
        rolling_period: 144,
        report_type: Some(1),
    }
}

fn registration(number: &str, onset: &str, keys: Vec<DiagnosisRequestKey>) -> DiagnosisRequest {
    DiagnosisRequest {
        has_symptom: true,
        onset_of_symptom_or_test_date: onset.into(),
        keys,
        regions: vec!["440".into()],
        platform: Some("android".into()),
        device_verification_payload: Some("attestation".into()),
        app_package_name: Some("jp.go.mhlw.covid19radar".into()),
        verification_payload: number.into(),
        idempotency_key: Some(format!("attempt-{number}")),
        padding: Some("p".repeat(1024)),
    }
}

#[tokio::test]
async fn schemas_name_the_fields_serde_writes() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    let request = registration(
        "12345678",
        "2022-08-01T00:00:00.000+09:00",
        vec![key(1, 2765520)],
    );
    let warning = KeyWarning {
        index: 0,
        code: "key_too_old".into(),
        message: "old".into(),
    };
    let response = DiagnosisResponse {
        has_symptom: true,
        onset_of_symptom_or_test_date: request.onset_of_symptom_or_test_date.clone(),
        keys: request.keys.clone(),
        regions: request.regions.clone(),
        platform: None,
        device_verification_payload: None,
        app_package_name: None,
        verification_payload: None,
        idempotency_key: None,
        padding: None,
        warnings: vec![warning.clone()],
    };
    let ask = IssueNumbersRequest {
        count: Some(2),
        lifetime_minutes: Some(60),
        symptom_onset_date: Some("2022-08-01".into()),
        test_date: Some("2022-08-02".into()),
    };
    let issued = IssuedNumber {
        processing_number: "01234567".into(),
        expires_at: "2022-08-11T05:30:00Z".into(),
    };
    let issued_list = IssueNumbersResponse {
        processing_numbers: vec![issued.clone()],
    };
    let error = ErrorBody {
        error: codes::INTERNAL.into(),
        message: "no".into(),
        error_id: Some("0123456789abcdef".into()),
    };
    let report = ExportReport {
        skipped: false,
        files: vec![PublishedFile {
            path: "c19r/440/1.zip".into(),
            region: "440".into(),
            real_keys: 1,
            padding_keys: 999,
        }],
        real_keys: 1,
        padding_keys: 999,
        recovered_files: 0,
    };
    let signing_key = SigningKeyInfo {
        verification_key_id: "440".into(),
        verification_key_version: "v1".into(),
        public_key_pem: "-----BEGIN PUBLIC KEY-----".into(),
    };
    let entry = ListEntry {
        region: "440".into(),
        url: "http://localhost/c19r/440/1.zip".into(),
        created: 1_660_112_280_000,
    };
    let stats = RegistrationStats {
        days: vec![RegistrationStatsDay {
            date: "2022-08-01".into(),
            region: "440".into(),
            suppressed: true,
            registrations: None,
            keys: None,
            symptomatic: None,
        }],
    };
    let exposure = ExposureConfiguration::default();
    let risk = RiskCalculationConfiguration::default();
    let criterion: &Criterion = &risk.score_sum;
    // Answers: every field is always written.
    let answers: [(&str, BTreeSet<String>); 11] = [
        ("RegistrationStats", fields_of(&stats)),
        ("RegistrationStatsDay", fields_of(&stats.days[0])),
        ("ExportReport", fields_of(&report)),
        ("PublishedFile", fields_of(&report.files[0])),
        ("SigningKeyInfo", fields_of(&signing_key)),
        ("ListEntry", fields_of(&entry)),
        ("ExposureConfiguration", fields_of(&exposure)),
        ("DailySummariesConfig", fields_of(&exposure.daily_summaries)),
        (
            "DiagnosisKeysDataMapping",
            fields_of(&exposure.data_mapping),
        ),
        ("RiskCalculationConfiguration", fields_of(&risk)),
        ("Criterion", fields_of(criterion)),
    ];
    for (name, fields) in &answers {
        assert_eq!(&properties(&doc, name), fields, "{name}");
        assert_eq!(&names(&schema(&doc, name)["required"]), fields, "{name}");
    }

    let cases: [(&str, BTreeSet<String>); 8] = [
        ("DiagnosisRequest", fields_of(&request)),
        ("DiagnosisRequestKey", fields_of(&request.keys[0])),
        ("DiagnosisResponse", fields_of(&response)),
        ("KeyWarning", fields_of(&warning)),
        ("IssueNumbersRequest", fields_of(&ask)),
        ("IssueNumbersResponse", fields_of(&issued_list)),
        ("IssuedNumber", fields_of(&issued)),
        ("ErrorBody", fields_of(&error)),
    ];
    for (name, fields) in cases {
        assert_eq!(properties(&doc, name), fields, "{name}");
    }
    assert!(properties(&doc, "DiagnosisRequest").contains("idempotency_key"));

    // Requests: `required` is exactly what the server cannot read without.
    check_required_to_read::<DiagnosisRequest>(&doc, "DiagnosisRequest", &request);
    check_required_to_read::<DiagnosisRequestKey>(&doc, "DiagnosisRequestKey", &request.keys[0]);
    check_required_to_read::<IssueNumbersRequest>(&doc, "IssueNumbersRequest", &ask);
    check_survey_schemas(&doc);
    assert_eq!(
        schema(&doc, "IssueNumbersRequest")["additionalProperties"],
        false
    );
    assert!(serde_json::from_value::<IssueNumbersRequest>(json!({"colour": 1})).is_err());
    // Answers: `required` is what is always written, even when every option is empty.
    assert_eq!(
        names(&schema(&doc, "DiagnosisResponse")["required"]),
        fields_of(&response)
    );
    for (name, value) in [
        ("KeyWarning", fields_of(&warning)),
        ("IssueNumbersResponse", fields_of(&issued_list)),
        ("IssuedNumber", fields_of(&issued)),
        (
            "ErrorBody",
            fields_of(&ErrorBody {
                error_id: None,
                ..error.clone()
            }),
        ),
    ] {
        assert_eq!(names(&schema(&doc, name)["required"]), value, "{name}");
    }
}

/// Every example in the document fits its schema, and the Rust type of that body reads it.
#[tokio::test]
async fn examples_fit_their_schemas_and_types() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    fn read_as(schema_ref: &str, example: &Value) -> Result<(), serde_json::Error> {
        let example = example.clone();
        match schema_ref.rsplit('/').next().unwrap() {
            "DiagnosisRequest" => serde_json::from_value::<DiagnosisRequest>(example).map(drop),
            "DiagnosisResponse" => serde_json::from_value::<DiagnosisResponse>(example).map(drop),
            "IssueNumbersRequest" => {
                serde_json::from_value::<IssueNumbersRequest>(example).map(drop)
            }
            "IssueNumbersResponse" => {
                serde_json::from_value::<IssueNumbersResponse>(example).map(drop)
            }
            "ErrorBody" => serde_json::from_value::<ErrorBody>(example).map(drop),
            "EventLogRequest" => serde_json::from_value::<EventLogRequest>(example).map(drop),
            "ListEntry" => serde_json::from_value::<ListEntry>(example).map(drop),
            "SigningKeyInfo" => serde_json::from_value::<SigningKeyInfo>(example).map(drop),
            "RegistrationStats" => serde_json::from_value::<RegistrationStats>(example).map(drop),
            "ExposureConfiguration" => {
                serde_json::from_value::<ExposureConfiguration>(example).map(drop)
            }
            "RiskCalculationConfiguration" => {
                serde_json::from_value::<RiskCalculationConfiguration>(example).map(drop)
            }
            _ => Ok(()),
        }
    }
    let mut media_types = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !operation.is_object() {
                continue; // a path-level field, such as `parameters`
            }
            let at = format!("{method} {path}");
            if let Some(body) = operation.get("requestBody") {
                media_types.push((format!("{at} request"), resolve(&doc, body)));
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                media_types.push((format!("{at} {status}"), resolve(&doc, response)));
            }
        }
    }
    let mut checked = 0;
    for (at, holder) in media_types {
        for media in holder
            .get("content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(_, m)| m)
        {
            let schema = &media["schema"];
            let mut examples: Vec<&Value> = media.get("example").into_iter().collect();
            if let Some(named) = media.get("examples").and_then(Value::as_object) {
                examples.extend(named.values().map(|e| &e["value"]));
            }
            for example in examples {
                validate(&doc, schema, example, &at).unwrap();
                if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
                    read_as(reference, example).unwrap_or_else(|e| panic!("{at}: {e}"));
                }
                // A list of a type: each item reads as the type.
                if let Some(reference) = schema["items"].get("$ref").and_then(Value::as_str) {
                    for item in example.as_array().unwrap() {
                        read_as(reference, item).unwrap_or_else(|e| panic!("{at}: {e}"));
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 15, "only {checked} examples");
}

/// A v3 answer without its random `padding`.
fn unpadded(mut answer: Value) -> Value {
    assert!(answer["padding"].is_string(), "{answer}");
    answer.as_object_mut().unwrap().remove("padding");
    answer
}

/// The day of `days_ago` days before today (UTC), as a rolling start number.
fn day_start(days_ago: i64) -> i64 {
    (epoch_day(Utc::now().date_naive()) - days_ago) * 144
}

async fn issue(app: &App, doc: &Value, body: Value) -> Vec<String> {
    let path = "/api/v1/processing-numbers";
    let auth = format!("Bearer {TOKEN}");
    let answer = send(
        app,
        Method::POST,
        path,
        &[("authorization", auth.as_str()), JSON],
        body.to_string(),
    )
    .await;
    check_answer(doc, &Method::POST, path, &answer);
    assert_eq!(answer.status, StatusCode::CREATED);
    let issued: IssueNumbersResponse = serde_json::from_slice(&answer.body).unwrap();
    issued
        .processing_numbers
        .into_iter()
        .map(|n| n.processing_number)
        .collect()
}

async fn register(
    app: &App,
    doc: &Value,
    path: &str,
    request: &Value,
    headers: &[(&str, &str)],
) -> Answer {
    let headers: Vec<(&str, &str)> = headers.iter().copied().chain([JSON]).collect();
    let answer = send(app, Method::PUT, path, &headers, request.to_string()).await;
    check_answer(doc, &Method::PUT, path, &answer);
    answer
}

/// Registers one key of yesterday (released at once: it is past).
async fn register_one(app: &App, doc: &Value) {
    let number = issue(app, doc, json!({})).await.remove(0);
    let onset = format!("{}T00:00:00.000+09:00", Utc::now().date_naive());
    let request = json!(registration(&number, &onset, vec![key(1, day_start(1))]));
    let answer = register(app, doc, "/api/v2/diagnosis", &request, &[]).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
}

/// Registers one key and runs an export, which writes every kind of file under `/c19r/`
/// (region 440's `list.json` and `index.txt`, one export file, the configuration files);
/// returns the export file's request path, `/c19r/440/<file>.zip`.
async fn publish(app: &App, doc: &Value) -> String {
    register_one(app, doc).await;
    let report = app.export().await.unwrap();
    assert_eq!(report.files.len(), 1, "{report:?}");
    publish_report(app).await;
    format!("/{}", report.files[0].path)
}

/// A survey report's files, as `cocoa report` publishes them.
async fn publish_report(app: &App) {
    let files = [
        ("index.html", "<!doctype html><title>report</title>"),
        ("report.json", "{}"),
        ("tables/age.csv", "age_group,respondents,notified,share\n"),
    ]
    .map(|(name, text)| (name.to_owned(), bytes::Bytes::from_static(text.as_bytes())));
    cocoa_server::report::publish(app.state().blobs.as_ref(), &files)
        .await
        .unwrap();
}

#[tokio::test]
async fn real_answers_fit_the_documented_responses() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    let (v2, v3) = ("/api/v2/diagnosis", "/api/v3/diagnosis");
    let numbers = issue(&app, &doc, json!({"count": 3, "lifetimeMinutes": 30})).await;
    assert_eq!(issue(&app, &doc, json!({})).await.len(), 1);
    let onset = format!("{}T00:00:00.000+09:00", Utc::now().date_naive());

    // v3: a key too old, one outside the window, two accepted.
    let keys = vec![
        key(1, day_start(20)),
        key(2, day_start(6)),
        key(3, day_start(1)),
        key(4, day_start(0)),
    ];
    let request = json!(registration(&numbers[0], &onset, keys));
    let answer = register(&app, &doc, v3, &request, &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let echo: DiagnosisResponse = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(echo.keys.len(), 2);
    let warnings: Vec<(usize, &str)> = echo
        .warnings
        .iter()
        .map(|w| (w.index, w.code.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [(0, "key_too_old"), (1, "outside_infectious_window")]
    );
    // A retry is answered the same way (but for the random padding, of the same size);
    // another registration with the number is refused.
    let retry = register(&app, &doc, v3, &request, &[]).await;
    assert_eq!(retry.body.len(), answer.body.len());
    assert_eq!(unpadded(retry.json()), unpadded(answer.json()));
    let mut other = registration(&numbers[0], &onset, vec![key(9, day_start(0))]);
    other.idempotency_key = Some("another-attempt".into());
    let other = json!(other);
    assert_eq!(
        register(&app, &doc, v2, &other, &[]).await.error_code(),
        codes::PROCESSING_NUMBER_USED
    );

    // Refused as a whole: the number stays usable.
    let outside = json!(registration(
        &numbers[1],
        &onset,
        vec![key(5, day_start(6))]
    ));
    let answer = register(&app, &doc, v2, &outside, &[]).await;
    assert_eq!(answer.error_code(), codes::NO_KEYS_IN_WINDOW);
    let fine = json!(registration(
        &numbers[1],
        &onset,
        vec![key(5, day_start(1))]
    ));
    assert_eq!(
        register(&app, &doc, v2, &fine, &[]).await.status,
        StatusCode::NO_CONTENT
    );

    let mut bad_region = registration(&numbers[2], &onset, vec![key(6, day_start(1))]);
    bad_region.regions = vec!["999".into()];
    let future = registration(&numbers[2], &onset, vec![key(6, day_start(-2))]);
    let wrong_onset = registration(&numbers[2], "soon", vec![key(6, day_start(1))]);
    let short_number = registration("1234567", &onset, vec![key(6, day_start(1))]);
    let unknown_number = registration("99999999", &onset, vec![key(6, day_start(1))]);
    for (request, code) in [
        (json!({"hasSymptom": true}), codes::BAD_REQUEST),
        (json!(bad_region), codes::UNSUPPORTED_REGION),
        (json!(future), codes::INVALID_KEYS),
        (json!(wrong_onset), codes::INVALID_ONSET_DATE),
        (json!(short_number), codes::PROCESSING_NUMBER_INVALID),
        (json!(unknown_number), codes::PROCESSING_NUMBER_INVALID),
    ] {
        for path in [v2, v3] {
            assert_eq!(
                register(&app, &doc, path, &request, &[]).await.error_code(),
                code,
                "{path} {request}"
            );
        }
    }

    // Decoys: success statuses, nothing validated.
    let chaff = [("x-chaff", "1")];
    assert_eq!(
        register(&app, &doc, v2, &json!("garbage"), &chaff)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let decoy = json!(registration("00000000", &onset, vec![key(7, day_start(1))]));
    let answer = register(&app, &doc, v3, &decoy, &chaff).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = send(&app, Method::PUT, v3, &[chaff[0], JSON], "garbage").await;
    check_answer(&doc, &Method::PUT, v3, &answer);
    assert_eq!(
        (answer.status, answer.body.len()),
        (StatusCode::OK, 4096),
        "as documented for v3 chaff: made up, padded"
    );
    // Only the transport of a decoy's body is checked: its media type too.
    let answer = send(&app, Method::PUT, v3, &chaff, "garbage").await;
    check_answer(&doc, &Method::PUT, v3, &answer);
    assert_eq!(answer.error_code(), codes::UNSUPPORTED_MEDIA_TYPE);

    // Limits and authorisation.
    let big = "x".repeat(64 * 1024 + 1);
    for path in [v2, v3] {
        let answer = send(&app, Method::PUT, path, &[], big.clone()).await;
        check_answer(&doc, &Method::PUT, path, &answer);
        assert_eq!(answer.error_code(), codes::PAYLOAD_TOO_LARGE);
    }
    let issue_path = "/api/v1/processing-numbers";
    let auth = format!("Bearer {TOKEN}");
    for (headers, body, code) in [
        (
            vec![("authorization", auth.as_str())],
            big.clone(),
            codes::PAYLOAD_TOO_LARGE,
        ),
        (
            vec![("authorization", auth.as_str()), JSON],
            json!({"count": 0}).to_string(),
            codes::BAD_REQUEST,
        ),
        (
            vec![("authorization", auth.as_str()), JSON],
            json!({"colour": 1}).to_string(),
            codes::BAD_REQUEST,
        ),
        (
            vec![("authorization", auth.as_str()), JSON],
            json!({"testDate": "2000-01-01"}).to_string(),
            codes::BAD_REQUEST,
        ),
        (
            vec![("authorization", auth.as_str())],
            json!({}).to_string(),
            codes::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            vec![("authorization", "Bearer wrong-token-0123456789")],
            String::new(),
            codes::UNAUTHORIZED,
        ),
        (vec![], String::new(), codes::UNAUTHORIZED),
    ] {
        let answer = send(&app, Method::POST, issue_path, &headers, body).await;
        check_answer(&doc, &Method::POST, issue_path, &answer);
        assert_eq!(answer.error_code(), code);
    }

    for path in ["/healthz", "/portal", "/openapi.json"] {
        let answer = send(&app, Method::GET, path, &[], Body::empty()).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        check_answer(&doc, &Method::GET, path, &answer);
    }
}

/// A GET of a published file, checked against the documented path it falls under.
/// `GET /api/v1/stats/registrations` with registrations in it: a published day and a withheld
/// one fit the documented answer (and its `oneOf`), under the documented embargo.
#[tokio::test]
async fn the_registration_stats_fit_the_documented_responses() {
    use chrono::TimeZone;
    let path = "/api/v1/stats/registrations";
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap(),
    ));
    let (_dir, app) = app_at(clock.clone(), |c| {
        c.registration.regions = vec!["440".into(), "441".into()];
    })
    .await;
    let doc = document(&app).await;
    let get = || send(&app, Method::GET, path, &[], Body::empty());
    let numbers = issue(&app, &doc, json!({"count": 11})).await;
    for (i, number) in numbers.iter().enumerate() {
        let mut request = registration(
            number,
            "2022-08-08T00:00:00.000+09:00",
            vec![key(i as u8, 19_213 * 144), key(i as u8 + 100, 19_212 * 144)],
        );
        request.regions = vec![if i < 10 { "440" } else { "441" }.into()];
        let answer = register(&app, &doc, "/api/v2/diagnosis", &json!(request), &[]).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
    }
    let answer = get().await;
    check_answer(&doc, &Method::GET, path, &answer);
    assert_eq!(answer.json(), json!({"days": []}), "under the embargo");
    assert_eq!(
        header_text(&answer, header::CACHE_CONTROL),
        "public, max-age=3600"
    );
    // 10 August is published from 13 August 00:00 UTC.
    clock.set(Utc.with_ymd_and_hms(2022, 8, 13, 0, 0, 0).unwrap());
    let answer = get().await;
    check_answer(&doc, &Method::GET, path, &answer);
    let day = &doc["components"]["schemas"]["RegistrationStatsDay"];
    for item in answer.json()["days"].as_array().unwrap() {
        allows(&doc, day, item).unwrap();
    }
    assert_eq!(
        answer.json(),
        json!({"days": [
            {"date": "2022-08-10", "region": "440", "suppressed": false,
             "registrations": 10, "keys": 20, "symptomatic": 10},
            {"date": "2022-08-10", "region": "441", "suppressed": true,
             "registrations": null, "keys": null, "symptomatic": null},
        ]})
    );
    // Counts that contradict `suppressed` do not fit the document.
    for wrong in [
        json!({"date": "2022-08-10", "region": "441", "suppressed": true,
               "registrations": 3, "keys": 6, "symptomatic": 3}),
        json!({"date": "2022-08-10", "region": "440", "suppressed": false,
               "registrations": null, "keys": null, "symptomatic": null}),
        json!({"date": "2022-08-10", "region": "440", "suppressed": false,
               "registrations": 9, "keys": 20, "symptomatic": 0}),
    ] {
        assert!(allows(&doc, day, &wrong).is_err(), "{wrong}");
    }
    let head = send(&app, Method::HEAD, path, &[], Body::empty()).await;
    assert_eq!(head.status, StatusCode::OK);
}

async fn download(app: &App, doc: &Value, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let answer = send(app, Method::GET, uri, headers, Body::empty()).await;
    check_answer(doc, &Method::GET, &documented_path(doc, uri), &answer);
    answer
}

fn header_text(answer: &Answer, name: header::HeaderName) -> String {
    answer.headers[name].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn export_runs_and_published_files_fit_the_documented_responses() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    let run = "/api/v1/admin/export";
    let auth = format!("Bearer {TOKEN}");
    let auth = [("authorization", auth.as_str())];
    let (list, index) = ("/c19r/440/list.json", "/c19r/440/index.txt");
    let exposure = "/c19r/exposure_configuration/configuration.json";
    let risk = "/c19r/exposure_configuration/risk_calculation_configuration.json";

    // Nothing is published before the first run.
    for uri in [list, index, exposure, risk] {
        let answer = download(&app, &doc, uri, &[]).await;
        assert_eq!(answer.error_code(), codes::NOT_FOUND, "{uri}");
    }
    // The token first: nothing runs without it, whatever the body.
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong-token-0123456789")],
    ] {
        let answer = send(&app, Method::POST, run, &headers, "{}").await;
        check_answer(&doc, &Method::POST, run, &answer);
        assert_eq!(answer.error_code(), codes::UNAUTHORIZED);
    }
    assert_eq!(
        download(&app, &doc, list, &[]).await.status,
        StatusCode::NOT_FOUND
    );

    // A run with nothing to publish still writes the lists and the configuration files.
    let answer = send(&app, Method::POST, run, &auth, Body::empty()).await;
    check_answer(&doc, &Method::POST, run, &answer);
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({"skipped": false, "files": [], "real_keys": 0, "padding_keys": 0, "recovered_files": 0})
    );
    assert_eq!(download(&app, &doc, list, &[]).await.body, "[]");
    assert_eq!(download(&app, &doc, index, &[]).await.body, "");

    // One registered key: one file, padded, listed, and signed with the published key. The
    // request body is ignored.
    register_one(&app, &doc).await;
    let before = Utc::now().timestamp_millis();
    let answer = send(&app, Method::POST, run, &auth, "ignored").await;
    let after = Utc::now().timestamp_millis();
    check_answer(&doc, &Method::POST, run, &answer);
    assert_eq!(answer.status, StatusCode::OK);
    let report = answer.json();
    let min_keys = ServerConfig::default().export.min_keys_per_file as u64;
    assert_eq!(report["skipped"], false);
    assert_eq!(report["real_keys"], 1);
    assert!(
        report["padding_keys"].as_u64().unwrap() >= min_keys - 1,
        "{report}"
    );
    assert_eq!(report["files"].as_array().unwrap().len(), 1, "{report}");
    let file = &report["files"][0];
    assert_eq!(file["region"], "440");
    assert_eq!(file["real_keys"], 1);
    assert_eq!(file["padding_keys"], report["padding_keys"]);
    let path = file["path"].as_str().unwrap();
    let zip = format!("/{path}");
    assert!(matches("/c19r/{region}/{file}.zip", &zip), "{zip}");

    let answer = download(&app, &doc, list, &[]).await;
    let entries: Vec<ListEntry> = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].region, "440");
    assert!(entries[0].url.starts_with("http"), "{}", entries[0].url);
    assert!(entries[0].url.ends_with(&zip), "{}", entries[0].url);
    assert!(
        (before..=after).contains(&entries[0].created),
        "milliseconds"
    );
    let answer = download(&app, &doc, index, &[]).await;
    assert_eq!(answer.body, format!("{path}\n"));

    let keys_path = "/api/v1/export-signing-keys";
    let answer = send(&app, Method::GET, keys_path, &[], Body::empty()).await;
    check_answer(&doc, &Method::GET, keys_path, &answer);
    let keys: Vec<SigningKeyInfo> = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (
            keys[0].verification_key_id.as_str(),
            keys[0].verification_key_version.as_str()
        ),
        ("440", "v1")
    );
    let verifier = ExportVerifier::from_pem(&keys[0].public_key_pem).unwrap();
    let answer = download(&app, &doc, &zip, &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.media_type(), "application/zip");
    let signed = SignedExport::from_zip(&answer.body).unwrap();
    signed.verify(&[verifier]).unwrap();
    assert_eq!(signed.export.region, "440");
    assert_eq!(
        signed.export.keys.len() as u64,
        1 + report["padding_keys"].as_u64().unwrap()
    );

    let answer = download(&app, &doc, exposure, &[]).await;
    let served: ExposureConfiguration = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(served, ExposureConfiguration::default());
    let answer = download(&app, &doc, risk, &[]).await;
    let served: RiskCalculationConfiguration = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(served, RiskCalculationConfiguration::default());

    // Conditional requests and HEAD, for every kind of file.
    for uri in [list, index, zip.as_str(), exposure, risk] {
        let full = download(&app, &doc, uri, &[]).await;
        assert_eq!(full.status, StatusCode::OK, "{uri}");
        let etag = header_text(&full, header::ETAG);
        let weak = format!("W/{etag}");
        let listed = format!("\"0123\", {etag}");
        for tag in [etag.as_str(), weak.as_str(), listed.as_str(), "*"] {
            let answer = download(&app, &doc, uri, &[("if-none-match", tag)]).await;
            assert_eq!(answer.status, StatusCode::NOT_MODIFIED, "{uri} {tag}");
            assert_eq!(header_text(&answer, header::ETAG), etag, "{uri}");
            assert_eq!(
                header_text(&answer, header::CACHE_CONTROL),
                header_text(&full, header::CACHE_CONTROL),
                "{uri}"
            );
        }
        let answer = download(&app, &doc, uri, &[("if-none-match", "\"0123\"")]).await;
        assert_eq!((answer.status, &answer.body), (StatusCode::OK, &full.body));
        let head = send(&app, Method::HEAD, uri, &[], Body::empty()).await;
        assert_eq!(head.status, StatusCode::OK, "{uri}");
        assert!(head.body.is_empty(), "{uri}");
        for name in [header::ETAG, header::CACHE_CONTROL, header::CONTENT_TYPE] {
            assert_eq!(head.headers[&name], full.headers[&name], "{uri} {name}");
        }
    }

    // Files that are not there: the route's 404, in the documented shape.
    for (_, uri) in MISSING_FILES {
        let answer = download(&app, &doc, uri, &[]).await;
        assert_eq!(answer.error_code(), codes::NOT_FOUND, "{uri}");
    }
    for uri in [
        "/c19r/440/list.json/",
        "/c19r/440//list.json",
        "/c19r/../data/cocoa.db",
    ] {
        let answer = send(&app, Method::GET, uri, &[], Body::empty()).await;
        assert_eq!(answer.error_code(), codes::NOT_FOUND, "{uri}");
    }
}

#[tokio::test]
async fn rate_limited_answers_carry_retry_after() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    let onset = format!("{}T00:00:00Z", Utc::now().date_naive());
    let guess = json!(registration("99999999", &onset, vec![key(1, day_start(1))]));
    // Requests through `oneshot` carry no address: they all count as one client.
    let limit = ServerConfig::default()
        .rate_limit
        .client_failures_per_window;
    for _ in 0..limit {
        let answer = register(&app, &doc, "/api/v2/diagnosis", &guess, &[]).await;
        assert_eq!(answer.error_code(), codes::PROCESSING_NUMBER_INVALID);
    }
    for path in ["/api/v2/diagnosis", "/api/v3/diagnosis"] {
        let answer = register(&app, &doc, path, &guess, &[]).await;
        assert_eq!(answer.error_code(), codes::RATE_LIMITED);
        let wait: u64 = answer.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&wait));
        // A decoy passes the same limit, and gets the same answer (the seconds to wait may
        // have ticked on between the two).
        let decoy = register(&app, &doc, path, &guess, &[("x-chaff", "1")]).await;
        assert_same_answer(&answer, &decoy, 1);
    }
}

/// `real` and `decoy` are the same answer: status, body and every header (the `Retry-After`
/// seconds up to `tick` apart).
fn assert_same_answer(real: &Answer, decoy: &Answer, tick: u64) {
    assert_eq!(
        (real.status, &real.body),
        (decoy.status, &decoy.body),
        "{real:?} {decoy:?}"
    );
    let others = |a: &Answer| {
        let mut headers = a.headers.clone();
        headers.remove(header::RETRY_AFTER);
        headers.remove(header::DATE);
        headers
    };
    assert_eq!(others(real), others(decoy));
    let wait = |a: &Answer| -> u64 { header_text(a, header::RETRY_AFTER).parse().unwrap() };
    assert!(
        wait(real).abs_diff(wait(decoy)) <= tick,
        "{real:?} {decoy:?}"
    );
}

#[tokio::test]
async fn wrong_admin_tokens_get_the_documented_429() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    let limit = ServerConfig::default()
        .rate_limit
        .client_failures_per_window;
    let wrong = "Bearer wrong-token-0123456789";
    let right = format!("Bearer {TOKEN}");
    // One client (no address through `oneshot`), one budget for both admin endpoints; a
    // missing token counts as a wrong one.
    // The two admin endpoints that take a POST (`GET /metrics` shares the budget too).
    let posts = &ADMIN_PATHS[..2];
    for i in 0..limit {
        let path = posts[i as usize % 2];
        let headers: &[(&str, &str)] = if i == 0 {
            &[]
        } else {
            &[("authorization", wrong)]
        };
        let answer = send(&app, Method::POST, path, headers, Body::empty()).await;
        check_answer(&doc, &Method::POST, path, &answer);
        assert_eq!(answer.error_code(), codes::UNAUTHORIZED, "{path} {i}");
    }
    for path in posts {
        let description = resolve(&doc, &doc["paths"][path]["post"]["responses"]["429"]);
        assert!(
            description["description"]
                .as_str()
                .is_some_and(|d| d.contains("`rate_limited`")),
            "{path}"
        );
        // Whatever token it presents, the client is refused now: even the right one.
        for auth in [wrong, right.as_str()] {
            let answer = send(
                &app,
                Method::POST,
                path,
                &[("authorization", auth)],
                Body::empty(),
            )
            .await;
            check_answer(&doc, &Method::POST, path, &answer);
            assert_eq!(answer.error_code(), codes::RATE_LIMITED, "{path}");
            let wait: u64 = header_text(&answer, header::RETRY_AFTER).parse().unwrap();
            assert!((1..=3600).contains(&wait), "{wait}");
        }
    }
}

/// Every successful v3 answer, real or decoy, is padded as documented: the server's own
/// base64 characters in `padding` make the body whole 4 KiB blocks.
#[tokio::test]
async fn v3_answers_are_padded_and_decoys_documented_as_served() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    let (v2, v3) = ("/api/v2/diagnosis", "/api/v3/diagnosis");
    let padding = &schema(&doc, "DiagnosisResponse")["properties"]["padding"];
    assert!(
        padding["description"]
            .as_str()
            .is_some_and(|d| d.contains("multiple of 4096 bytes") && d.contains("decoy")),
        "{padding}"
    );
    // Both registration endpoints take the `X-Chaff` header.
    for path in [v2, v3] {
        let parameters = &doc["paths"][path]["put"]["parameters"];
        let chaff: Vec<&Value> = parameters
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "header" && p["name"] == "X-Chaff")
            .collect();
        assert_eq!(chaff.len(), 1, "{path}: {parameters}");
        assert_eq!(chaff[0]["required"], false, "{path}");
    }
    let check_padded = |answer: &Answer, what: &str| {
        assert_eq!(answer.status, StatusCode::OK, "{what}: {answer:?}");
        assert_eq!(answer.body.len() % 4096, 0, "{what}: {}", answer.body.len());
        let body = answer.json();
        let padding = body["padding"].as_str().unwrap();
        assert!(
            padding
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
            "{what}: {padding}"
        );
        body
    };
    let onset = format!("{}T00:00:00.000+09:00", Utc::now().date_naive());
    let numbers = issue(&app, &doc, json!({"count": 3})).await;
    let chaff = [("x-chaff", "1")];
    for (i, keys) in [1usize, 7, 14].into_iter().enumerate() {
        let keys: Vec<DiagnosisRequestKey> = (0..keys)
            .map(|k| key(k as u8 + 1, day_start(k as i64)))
            .collect();
        let mut request = registration(&numbers[i], &onset, keys);
        request.padding = Some("q".repeat(1024 + 500 * i));
        let request = json!(request);
        let real = register(&app, &doc, v3, &request, &[]).await;
        check_padded(&real, "real");
        // A decoy of the same request: padded too, its content made up.
        let decoy = register(&app, &doc, v3, &request, &chaff).await;
        let made_up = check_padded(&decoy, "decoy");
        assert_ne!(made_up["idempotency_key"], request["idempotency_key"]);
        assert_ne!(made_up["keys"][0]["keyData"], request["keys"][0]["keyData"]);
        assert!(made_up["appPackageName"].is_null(), "{made_up}");
        assert!(made_up["warnings"].as_array().unwrap().is_empty());
    }
}

/// The survey's schemas name the fields serde writes; `required` is what serde cannot read
/// without; the content refuses unknown fields, as documented.
fn check_survey_schemas(doc: &Value) {
    let day = SurveyDay {
        date_millis: 1_649_289_600_000,
        exposure_detected: 1,
    };
    let data = SurveyExposureData {
        daily_summaries: vec![day],
    };
    let content = SurveyContent {
        q1: Some(5),
        q2: Some(3),
        start_date: Some(1_600_041_600),
        exposure_data: Some(data.clone()),
    };
    let entry = EventLogEntry {
        has_consent: true,
        epoch: 1_669_000_000,
        kind: "survey".into(),
        subtype: "survey".into(),
        content: serde_json::to_value(&content).unwrap(),
    };
    let request = EventLogRequest {
        idempotency_key: "k".into(),
        platform: Some("android".into()),
        app_package_name: Some("jp.go.mhlw.covid19radar".into()),
        device_verification_payload: Some("token".into()),
        event_logs: vec![entry.clone()],
    };
    for (name, fields) in [
        ("EventLogRequest", fields_of(&request)),
        ("EventLogEntry", fields_of(&entry)),
        ("SurveyContent", fields_of(&content)),
        ("SurveyExposureData", fields_of(&data)),
        ("SurveyDay", fields_of(&day)),
    ] {
        assert_eq!(properties(doc, name), fields, "{name}");
    }
    check_required_to_read::<EventLogRequest>(doc, "EventLogRequest", &request);
    check_required_to_read::<EventLogEntry>(doc, "EventLogEntry", &entry);
    check_required_to_read::<SurveyContent>(doc, "SurveyContent", &content);
    check_required_to_read::<SurveyExposureData>(doc, "SurveyExposureData", &data);
    check_required_to_read::<SurveyDay>(doc, "SurveyDay", &day);
    for name in ["SurveyContent", "SurveyExposureData", "SurveyDay"] {
        assert_eq!(schema(doc, name)["additionalProperties"], false, "{name}");
    }
    assert!(serde_json::from_value::<SurveyContent>(json!({"q9": 1})).is_err());
}

/// A survey through the router, with its length declared as a phone's HTTP client declares it.
async fn submit(app: &App, doc: &Value, body: &str) -> Answer {
    let path = "/api/v1/event_log";
    let length = body.len().to_string();
    let headers = [("content-length", length.as_str()), JSON];
    let answer = send(app, Method::PUT, path, &headers, body.to_owned()).await;
    check_answer(doc, &Method::PUT, path, &answer);
    answer
}

#[tokio::test]
async fn the_event_log_answers_fit_the_documented_responses() {
    let (_dir, app) = app().await;
    let doc = document(&app).await;
    let path = "/api/v1/event_log";
    // Every documented example is taken.
    let examples = doc["components"]["requestBodies"]["EventLog"]["content"]["application/json"]
        ["examples"]
        .as_object()
        .unwrap();
    assert!(examples.len() >= 2);
    for (name, example) in examples {
        let answer = submit(&app, &doc, &example["value"].to_string()).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{name}: {answer:?}");
        assert!(answer.body.is_empty());
    }
    assert_eq!(
        app.state().store.count_survey_responses().await.unwrap(),
        examples.len() as u64
    );
    let survey = |content: Value| {
        json!({"idempotencyKey": "k", "eventLogs": [
            {"hasConsent": true, "epoch": 1, "type": "survey", "subtype": "survey", "content": content}
        ]})
        .to_string()
    };
    for (body, code) in [
        ("nope".to_owned(), codes::BAD_REQUEST),
        (json!({"eventLogs": []}).to_string(), codes::BAD_REQUEST),
        (survey(json!({"q1": 10})), codes::INVALID_SURVEY),
        (survey(json!({"q1": 1, "colour": 1})), codes::INVALID_SURVEY),
    ] {
        assert_eq!(submit(&app, &doc, &body).await.error_code(), code, "{body}");
    }
    // No length, or too long a one.
    let no_length = send(&app, Method::PUT, path, &[], survey(json!({}))).await;
    check_answer(&doc, &Method::PUT, path, &no_length);
    assert_eq!(no_length.error_code(), codes::LENGTH_REQUIRED);
    let too_long = (10 * 1024 * 1024 + 1).to_string();
    let answer = send(
        &app,
        Method::PUT,
        path,
        &[("content-length", too_long.as_str())],
        Body::empty(),
    )
    .await;
    check_answer(&doc, &Method::PUT, path, &answer);
    assert_eq!(answer.error_code(), codes::PAYLOAD_TOO_LARGE);
    // Requests through `oneshot` carry no address: one client, which has now used up its
    // submissions of the window.
    let limit = ServerConfig::default().survey.client_submissions_per_window;
    let mut answer = submit(&app, &doc, &survey(json!({}))).await;
    for _ in 0..limit {
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        answer = submit(&app, &doc, &survey(json!({}))).await;
    }
    assert_eq!(answer.error_code(), codes::RATE_LIMITED);
    let wait: u64 = header_text(&answer, header::RETRY_AFTER).parse().unwrap();
    assert!((1..=3600).contains(&wait));

    // A closed survey.
    let (_dir, closed) = app_with(|c| {
        c.survey.closes_at =
            Some(chrono::DateTime::parse_from_rfc3339("2022-12-31T23:59:59+09:00").unwrap());
    })
    .await;
    let answer = submit(&closed, &doc, &survey(json!({}))).await;
    assert_eq!(answer.error_code(), codes::SURVEY_CLOSED);
}

/// The time the document's examples are written for: their dates are recent then.
fn example_time() -> chrono::DateTime<Utc> {
    use chrono::TimeZone;
    Utc.with_ymd_and_hms(2022, 8, 3, 5, 30, 0).unwrap()
}

/// A server at the examples' time, taking many surveys from one client.
async fn example_app() -> (tempfile::TempDir, App) {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(example_time()));
    app_at(clock, |c| c.survey.client_submissions_per_window = 10_000).await
}

/// A request body as its operation takes it (the token, the JSON type, a declared length),
/// checked against the documented responses.
async fn post(app: &App, doc: &Value, path: &str, body: &Value) -> Answer {
    let text = body.to_string();
    let length = text.len().to_string();
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![JSON, ("content-length", length.as_str())];
    let method = match path {
        "/api/v1/processing-numbers" => {
            headers.push(("authorization", auth.as_str()));
            Method::POST
        }
        _ => Method::PUT,
    };
    let answer = send(app, method.clone(), path, &headers, text).await;
    check_answer(doc, &method, path, &answer);
    answer
}

/// The examples of a request body: (name, value).
fn request_examples(doc: &Value, path: &str, method: &str) -> Vec<(String, Value)> {
    let body = resolve(doc, &doc["paths"][path][method]["requestBody"]);
    let media = &body["content"]["application/json"];
    let mut examples: Vec<(String, Value)> = media
        .get("example")
        .map(|e| ("example".to_owned(), e.clone()))
        .into_iter()
        .collect();
    for (name, example) in media["examples"].as_object().into_iter().flatten() {
        examples.push((name.clone(), example["value"].clone()));
    }
    examples
}

/// Stores the processing number `number` as issued now, valid for a day.
async fn insert_number(app: &App, number: &str) {
    let state = app.state();
    let parsed = cocoa_server::numbers::ProcessingNumber::parse(number).unwrap();
    let now = state.clock.now().timestamp();
    let row = cocoa_server::store::NewNumber {
        tag: state.number_key.tag(&parsed),
        created_at: now,
        expires_at: now + 86_400,
        dates: Default::default(),
    };
    state.store.insert_numbers(&[row]).await.unwrap();
}

/// Every example request body in the document is accepted by the real server at the time the
/// examples are written for, and the registration example gets exactly the documented answer.
/// The property-level `examples` of the registration's fields are accepted too, each put into
/// the request example.
#[tokio::test]
async fn openapi_examples_are_accepted() {
    let (_dir, app) = example_app().await;
    let doc = document(&app).await;
    let (v2, v3) = ("/api/v2/diagnosis", "/api/v3/diagnosis");
    let mut sent = 0;
    for path in ["/api/v1/processing-numbers", "/api/v1/event_log"] {
        let method = documented(&doc)
            .into_iter()
            .find(|(_, p)| p == path)
            .map(|(m, _)| m.to_ascii_lowercase())
            .unwrap();
        for (name, example) in request_examples(&doc, path, &method) {
            let answer = post(&app, &doc, path, &example).await;
            assert!(answer.status.is_success(), "{path} {name}: {answer:?}");
            sent += 1;
        }
    }
    let registrations = request_examples(&doc, v3, "put");
    assert_eq!(registrations, request_examples(&doc, v2, "put"));
    let documented_answer = doc["paths"][v3]["put"]["responses"]["200"]["content"]
        ["application/json"]["examples"]["registered"]["value"]
        .clone();
    assert!(documented_answer.is_object(), "{documented_answer}");
    for (name, example) in &registrations {
        insert_number(&app, example["verificationPayload"].as_str().unwrap()).await;
        let answer = post(&app, &doc, v3, example).await;
        assert_eq!(answer.status, StatusCode::OK, "{name}: {answer:?}");
        if name == "symptomatic" {
            assert_eq!(unpadded(answer.json()), unpadded(documented_answer.clone()));
        }
        // v2 takes the same example: a retry of the stored registration, 204.
        let answer = post(&app, &doc, v2, example).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{name}: {answer:?}");
        sent += 2;
    }
    assert!(sent >= 6, "only {sent} examples");

    // Each field's examples, in the registration example, with a fresh number each.
    let (base_name, base) = &registrations[0];
    let mut fields = Vec::new();
    for (schema_name, prefix) in [
        ("DiagnosisRequest", "/"),
        ("DiagnosisRequestKey", "/keys/0/"),
    ] {
        for (field, spec) in schema(&doc, schema_name)["properties"].as_object().unwrap() {
            for example in spec["examples"].as_array().into_iter().flatten() {
                fields.push((format!("{prefix}{field}"), example.clone()));
            }
        }
    }
    assert!(fields.len() >= 8, "{fields:?}");
    let numbers = issue(&app, &doc, json!({"count": fields.len()})).await;
    for ((pointer, example), number) in fields.iter().zip(numbers) {
        let mut request = base.clone();
        *request.pointer_mut(pointer).unwrap() = example.clone();
        if pointer != "/verificationPayload" {
            request["verificationPayload"] = json!(number);
        } else {
            // The example number is the request example's, registered above: a retry.
            assert_eq!(example, &base["verificationPayload"], "{base_name}");
        }
        let answer = post(&app, &doc, v3, &request).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{pointer} = {example}: {answer:?}"
        );
    }
}

/// A request body with the value at `pointer` set (`Some`, added if the field is not there) or
/// removed (`None`); the pointer `""` replaces the whole body.
fn with(base: &Value, pointer: &str, value: Option<Value>) -> Value {
    if pointer.is_empty() {
        return value.expect("a whole body");
    }
    let mut body = base.clone();
    let (parent, name) = pointer.rsplit_once('/').unwrap();
    let target = body
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{parent}"));
    match (target, value) {
        (Value::Object(fields), Some(value)) => {
            fields.insert(name.to_owned(), value);
        }
        (Value::Object(fields), None) => {
            assert!(fields.remove(name).is_some(), "{pointer}");
        }
        (Value::Array(items), Some(value)) => items[name.parse::<usize>().unwrap()] = value,
        (other, _) => panic!("{parent} is {other}"),
    }
    body
}

/// `n` keys, three per day on the days before the examples' day, newest last.
fn keys(n: usize) -> Value {
    let today = epoch_day(example_time().date_naive());
    let keys: Vec<Value> = (0..n)
        .map(|i| {
            let days_ago = 1 + (n - 1 - i) as i64 / 3;
            json!(key(i as u8, (today - days_ago) * 144))
        })
        .collect();
    json!(keys)
}

/// The document and the server's validation agree: for each value, the document allows it
/// exactly when the server takes it (a 2xx), and each side gives the verdict the table
/// expects. Every request starts from the document's own example (valid at the examples'
/// time), with one value changed; rules the document states in words only (dates relative to
/// now, the served regions, keys in the future or overlapping) hold in all of them.
#[tokio::test]
async fn the_document_and_the_validation_agree() {
    let (_dir, app) = example_app().await;
    let doc = document(&app).await;
    let yes = true;
    let no = false;
    let long = |c: &str, n: usize| json!(c.repeat(n));

    // (path, pointer, value or removal, allowed)
    let issuance = "/api/v1/processing-numbers";
    let mut cases: Vec<(&str, &str, Option<Value>, bool)> = vec![
        ("/count", Some(json!(1)), yes),
        ("/count", Some(json!(100)), yes),
        ("/count", None, yes),
        ("/count", Some(json!(0)), no),
        ("/count", Some(json!(101)), no),
        ("/count", Some(json!(-1)), no),
        ("/count", Some(json!(null)), no),
        ("/count", Some(json!("1")), no),
        ("/count", Some(json!(1.0)), no),
        ("/count", Some(json!(1.5)), no),
        ("/lifetimeMinutes", Some(json!(1)), yes),
        ("/lifetimeMinutes", Some(json!(1440)), yes),
        ("/lifetimeMinutes", Some(json!(0)), no),
        ("/lifetimeMinutes", Some(json!(1441)), no),
        ("/lifetimeMinutes", Some(json!(null)), no),
        ("/symptomOnsetDate", Some(json!("2022-08-02")), yes),
        ("/symptomOnsetDate", Some(json!("+2022-08-01")), no),
        ("/symptomOnsetDate", Some(json!("2022-8-01")), no),
        ("/symptomOnsetDate", Some(json!("2022-08-01T00:00:00Z")), no),
        ("/symptomOnsetDate", Some(json!("2022-02-30")), no),
        ("/symptomOnsetDate", Some(json!(20220801)), no),
        ("/symptomOnsetDate", Some(json!(null)), no),
        ("/testDate", Some(json!("2022-08-01")), yes),
        ("/testDate", Some(json!("-2022-08-01")), no),
        ("/colour", Some(json!(1)), no),
        ("", Some(json!([])), no),
    ]
    .into_iter()
    .map(|(pointer, value, allowed)| (issuance, pointer, value, allowed))
    .collect();

    let v2 = "/api/v2/diagnosis";
    cases.extend(
        [
            ("/regions", Some(json!(["440"])), yes),
            ("/regions", Some(json!(["440", "440"])), yes),
            ("/regions", Some(json!([])), no),
            ("/regions", Some(json!([""])), no),
            ("/regions", Some(json!(["440", ""])), no),
            ("/regions", Some(json!([440])), no),
            ("/regions", Some(json!(null)), no),
            ("/regions", None, no),
            (
                "/onsetOfSymptomOrTestDate",
                Some(json!("2022-08-01T00:00:00Z")),
                yes,
            ),
            (
                "/onsetOfSymptomOrTestDate",
                Some(json!("2022-08-01t09:00:00.5z")),
                yes,
            ),
            (
                "/onsetOfSymptomOrTestDate",
                Some(json!("2022-08-01T00:00:00-01:00")),
                yes,
            ),
            ("/onsetOfSymptomOrTestDate", Some(json!("2022-08-01")), no),
            (
                "/onsetOfSymptomOrTestDate",
                Some(json!("+2022-08-01T00:00:00Z")),
                no,
            ),
            (
                "/onsetOfSymptomOrTestDate",
                Some(json!("2022-08-01 00:00:00Z")),
                no,
            ),
            (
                "/onsetOfSymptomOrTestDate",
                Some(json!("2022-08-01T00:00:00")),
                no,
            ),
            (
                "/onsetOfSymptomOrTestDate",
                Some(json!("2022-08-01T00:00:00+0900")),
                no,
            ),
            ("/onsetOfSymptomOrTestDate", Some(json!(null)), no),
            ("/hasSymptom", Some(json!(false)), yes),
            ("/hasSymptom", Some(json!(null)), no),
            ("/hasSymptom", Some(json!("true")), no),
            ("/keys", Some(keys(30)), yes),
            ("/keys", Some(keys(31)), no),
            ("/keys", Some(json!([])), no),
            (
                "/keys/0/keyData",
                Some(json!("AAECAwQFBgcICQoLDA0ODx==")),
                no,
            ),
            ("/keys/0/keyData", Some(json!("AAECAwQFBgcICQoLDA0O")), no),
            ("/keys/0/keyData", Some(json!("AAECAwQFBgcICQoLDA0ODw")), no),
            (
                "/keys/0/keyData",
                Some(json!("AAECAwQFBgcICQoLDA0ODwAA")),
                no,
            ),
            ("/keys/0/keyData", Some(json!("")), no),
            ("/keys/0/rollingPeriod", Some(json!(1)), yes),
            ("/keys/0/rollingPeriod", Some(json!(144)), yes),
            ("/keys/0/rollingPeriod", None, yes),
            ("/keys/0/rollingPeriod", Some(json!(0)), no),
            ("/keys/0/rollingPeriod", Some(json!(145)), no),
            ("/keys/0/rollingPeriod", Some(json!(null)), no),
            ("/keys/0/reportType", Some(json!(0)), yes),
            ("/keys/0/reportType", Some(json!(3)), yes),
            ("/keys/0/reportType", Some(json!(null)), yes),
            ("/keys/0/reportType", None, yes),
            ("/keys/0/reportType", Some(json!(4)), no),
            ("/keys/0/reportType", Some(json!(1.0)), no),
            ("/keys/0/rollingStartNumber", Some(json!(-1)), no),
            (
                "/keys/0/rollingStartNumber",
                Some(json!(4_294_967_296_i64)),
                no,
            ),
            ("/keys/0/rollingStartNumber", None, no),
            ("/verificationPayload", Some(json!("1234567")), no),
            ("/verificationPayload", Some(json!("１２３４５６７８")), no),
            ("/idempotency_key", Some(json!("")), no),
            ("/idempotency_key", Some(long("x", 128)), yes),
            ("/idempotency_key", Some(long("é", 128)), yes),
            ("/idempotency_key", Some(long("x", 129)), no),
            ("/idempotency_key", Some(json!(null)), yes),
            ("/idempotency_key", None, yes),
            ("/idempotency_key", Some(json!(1)), no),
            ("/platform", Some(json!(null)), yes),
            ("/platform", Some(json!(1)), no),
            ("/padding", Some(json!(null)), yes),
            ("/deviceVerificationPayload", Some(json!(null)), yes),
            ("/appPackageName", Some(json!(null)), yes),
            ("/colour", Some(json!(1)), yes),
            ("/keys/0/colour", Some(json!(1)), yes),
            ("", Some(json!([])), no),
        ]
        .into_iter()
        .map(|(pointer, value, allowed)| (v2, pointer, value, allowed)),
    );

    let log = "/api/v1/event_log";
    let unconsented =
        json!({"hasConsent": false, "epoch": 1, "type": "", "subtype": "x", "content": 1});
    let day = "/eventLogs/0/content/exposure_data/daily_summaries";
    cases.extend(
        [
            ("/idempotencyKey", Some(json!("")), no),
            ("/idempotencyKey", Some(long("k", 128)), yes),
            ("/idempotencyKey", Some(long("é", 128)), yes),
            ("/idempotencyKey", Some(long("k", 129)), no),
            ("/idempotencyKey", Some(json!(null)), no),
            ("/idempotencyKey", Some(json!(1)), no),
            ("/eventLogs", Some(json!([])), yes),
            ("/eventLogs", Some(json!([1])), no),
            ("/eventLogs", Some(json!(null)), no),
            ("/eventLogs/0", Some(unconsented.clone()), yes),
            ("/eventLogs/0/type", Some(json!("")), no),
            ("/eventLogs/0/type", Some(json!("Survey")), no),
            ("/eventLogs/0/subtype", Some(json!("")), no),
            ("/eventLogs/0/hasConsent", Some(json!(null)), no),
            ("/eventLogs/0/epoch", Some(json!(-1)), yes),
            ("/eventLogs/0/epoch", Some(json!(1.5)), no),
            (
                "/eventLogs/0/epoch",
                Some(json!(9_223_372_036_854_775_808_u64)),
                no,
            ),
            ("/eventLogs/0/content", Some(json!({})), yes),
            ("/eventLogs/0/content", Some(json!(1)), no),
            ("/eventLogs/0/content/q1", Some(json!(1)), yes),
            ("/eventLogs/0/content/q1", Some(json!(9)), yes),
            ("/eventLogs/0/content/q1", Some(json!(null)), yes),
            ("/eventLogs/0/content/q1", None, yes),
            ("/eventLogs/0/content/q1", Some(json!(0)), no),
            ("/eventLogs/0/content/q1", Some(json!(10)), no),
            ("/eventLogs/0/content/q1", Some(json!(1.0)), no),
            ("/eventLogs/0/content/q2", Some(json!(3)), yes),
            ("/eventLogs/0/content/q2", Some(json!(4)), no),
            ("/eventLogs/0/content/colour", Some(json!(1)), no),
            ("/eventLogs/0/content/exposure_data", Some(json!(null)), yes),
            ("/eventLogs/0/content/exposure_data", Some(json!([])), no),
            (day, Some(json!([])), yes),
            (
                "/eventLogs/0/content/exposure_data/daily_summaries/0/ExposureDetected",
                Some(json!(1)),
                yes,
            ),
            (
                "/eventLogs/0/content/exposure_data/daily_summaries/0/ExposureDetected",
                Some(json!(2)),
                no,
            ),
            ("/platform", Some(json!(null)), yes),
            ("/colour", Some(json!(1)), yes),
            ("", Some(json!("survey")), no),
        ]
        .into_iter()
        .map(|(pointer, value, allowed)| (log, pointer, value, allowed)),
    );

    let base_of = |path: &str| {
        let method = if path == issuance { "post" } else { "put" };
        let examples = request_examples(&doc, path, method);
        let wanted = if path == issuance {
            "batch"
        } else if path == log {
            "survey"
        } else {
            "symptomatic"
        };
        examples.into_iter().find(|(n, _)| n == wanted).unwrap().1
    };
    let schema_of = |path: &str| {
        let method = if path == issuance { "post" } else { "put" };
        resolve(&doc, &doc["paths"][path][method]["requestBody"])["content"]["application/json"]
            ["schema"]
            .clone()
    };
    let mut numbers = issue(&app, &doc, json!({"count": 100})).await.into_iter();
    let (mut allowed, mut refused) = (0, 0);
    for (i, (path, pointer, value, expected)) in cases.iter().enumerate() {
        let mut body = with(&base_of(path), pointer, value.clone());
        if path == &v2 && body.is_object() {
            if body.get("verificationPayload") == base_of(path).get("verificationPayload") {
                body["verificationPayload"] = json!(numbers.next().unwrap());
            }
            if body.get("idempotency_key") == base_of(path).get("idempotency_key") {
                body["idempotency_key"] = json!(format!("case-{i}"));
            }
        }
        let at = format!("{path} {pointer} = {value:?}");
        let document = allows(&doc, &schema_of(path), &body);
        assert_eq!(
            document.is_ok(),
            *expected,
            "the document on {at}: {document:?}"
        );
        let answer = post(&app, &doc, path, &body).await;
        assert_eq!(
            answer.status.is_success(),
            *expected,
            "the server on {at}: {answer:?}"
        );
        if *expected {
            allowed += 1;
        } else {
            answer.error_code();
            refused += 1;
        }
    }
    assert!(
        allowed >= 40 && refused >= 60,
        "{allowed} allowed, {refused} refused"
    );
}

/// The real server (`App::serve`, with its connection layer) on 127.0.0.1, port 0, until
/// dropped.
struct Serving {
    address: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Serving {
    async fn start(app: &App) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        Self {
            address,
            stop: Some(stop),
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Reads one answer (its head, and as many body bytes as its `Content-Length` says) from a
/// raw connection.
async fn read_raw_answer(stream: &mut TcpStream) -> Answer {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(data[..end].to_vec()).unwrap();
            let mut lines = head.split("\r\n");
            let status = lines.next().unwrap().split(' ').nth(1).unwrap();
            let mut headers = HeaderMap::new();
            for line in lines {
                let (name, value) = line.split_once(':').unwrap();
                headers.append(
                    header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                    value.trim().parse().unwrap(),
                );
            }
            assert!(!headers.contains_key(header::TRANSFER_ENCODING), "{head}");
            let length: usize = headers
                .get(header::CONTENT_LENGTH)
                .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the connection closed mid-answer: {head}");
                data.extend_from_slice(&buf[..n]);
            }
            return Answer {
                status: StatusCode::from_bytes(status.as_bytes()).unwrap(),
                headers,
                body: Bytes::copy_from_slice(&data[end + 4..end + 4 + length]),
            };
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "the connection closed before an answer: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    }
}

/// Waits until the server closes the connection (reading and discarding what it sends).
async fn closed_soon(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(SLACK, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closes the connection");
}

/// A request head declaring a JSON body of `length` bytes, with the admin token (so that the
/// admin endpoints get as far as their body) and `extra` headers.
fn head_with_body(method: &str, uri: &str, length: usize, extra: &[(&str, &str)]) -> String {
    let mut head = format!(
        "{method} {uri} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\nauthorization: Bearer {TOKEN}\r\n"
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Sends the head of a request with a 64-byte body and the first bytes of that body, and no
/// more; returns the answer, after checking that the server closes the connection after a 408.
async fn stalled_body(address: &str, method: &str, uri: &str, extra: &[(&str, &str)]) -> Answer {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = head_with_body(method, uri, 64, extra);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"{\"count\":").await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(1) + SLACK, read_raw_answer(&mut stream))
        .await
        .unwrap_or_else(|_| panic!("{method} {uri}: no answer"));
    if answer.status == StatusCode::REQUEST_TIMEOUT {
        closed_soon(&mut stream).await;
    }
    answer
}

/// A body that does not arrive in time gets 408 `request_timeout` with `Connection: close`
/// exactly on the operations whose documentation lists 408 (those that read a body), and
/// every other operation answers as documented without waiting for it.
#[tokio::test]
async fn stalled_bodies_get_408_exactly_where_documented() {
    let (_dir, app) = app_with(|c| c.http.request_body_timeout_seconds = 1).await;
    let doc = document(&app).await;
    let server = Serving::start(&app).await;
    let values = [("region", "440"), ("file", "1"), ("table", "age")];
    let chaff = [("x-chaff", "1")];
    // (method, documented path, extra headers)
    type Probe<'a> = (String, String, &'a [(&'a str, &'a str)]);
    let mut probes: Vec<Probe<'_>> = documented(&doc)
        .into_iter()
        .map(|(method, path)| (method, path, &[][..]))
        .collect();
    // Decoys read their body too.
    for path in ["/api/v2/diagnosis", "/api/v3/diagnosis"] {
        probes.push(("PUT".into(), path.into(), &chaff[..]));
    }
    let started = Instant::now();
    let answers = futures::future::join_all(probes.iter().map(|(method, path, extra)| {
        let uri = fill(path, &values);
        let address = server.address.clone();
        async move { stalled_body(&address, method, &uri, extra).await }
    }))
    .await;
    assert!(started.elapsed() < Duration::from_secs(1) + SLACK);
    let mut timed_out = BTreeSet::new();
    for ((method, path, extra), answer) in probes.iter().zip(&answers) {
        let at = format!("{method} {path} {extra:?}");
        let lower = method.to_ascii_lowercase();
        let documented_408 = doc["paths"][path][&lower]["responses"].get("408");
        assert_eq!(
            answer.status == StatusCode::REQUEST_TIMEOUT,
            documented_408.is_some(),
            "{at}: {answer:?}"
        );
        check_answer(
            &doc,
            &Method::from_bytes(method.as_bytes()).unwrap(),
            path,
            answer,
        );
        if let Some(response) = documented_408 {
            let response = resolve(&doc, response);
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("`request_timeout`")),
                "{at}"
            );
            assert_eq!(answer.error_code(), codes::REQUEST_TIMEOUT, "{at}");
            assert_eq!(header_text(answer, header::CONNECTION), "close", "{at}");
            timed_out.insert(path.as_str());
        }
    }
    assert_eq!(
        timed_out,
        BTreeSet::from([
            "/api/v1/event_log",
            "/api/v1/processing-numbers",
            "/api/v2/diagnosis",
            "/api/v3/diagnosis",
        ])
    );
}

/// A connection beyond the cap, while every connection has a request in flight, gets 503
/// `overloaded` with `Retry-After: 1` and `Connection: close` before it sends anything: an
/// answer every operation documents.
#[tokio::test]
async fn connections_beyond_the_cap_get_the_documented_503_on_every_operation() {
    let (_dir, app) = app_with(|c| {
        c.http.max_connections = 1;
        c.http.request_body_timeout_seconds = 60;
    })
    .await;
    let doc = document(&app).await;
    let server = Serving::start(&app).await;
    // The one connection allowed has a request in flight: its handler waits for the body.
    let mut busy = TcpStream::connect(&server.address).await.unwrap();
    let head = head_with_body(
        "PUT",
        "/api/v2/diagnosis",
        1000,
        &[("expect", "100-continue")],
    );
    busy.write_all(head.as_bytes()).await.unwrap();
    let mut continued = [0u8; 25];
    busy.read_exact(&mut continued).await.unwrap();
    assert!(
        continued.eq_ignore_ascii_case(b"HTTP/1.1 100 Continue\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&continued)
    );

    let operations = documented(&doc);
    assert!(operations.len() >= 12, "{operations:?}");
    for (method, path) in operations {
        let mut refused = TcpStream::connect(&server.address).await.unwrap();
        let answer = tokio::time::timeout(SLACK, read_raw_answer(&mut refused))
            .await
            .expect("refused at once");
        let at = format!("{method} {path}");
        check_answer(
            &doc,
            &Method::from_bytes(method.as_bytes()).unwrap(),
            &path,
            &answer,
        );
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{at}");
        assert_eq!(answer.error_code(), codes::OVERLOADED, "{at}");
        if path == "/healthz" {
            check_health_503(&doc, &answer);
        }
        assert_eq!(header_text(&answer, header::RETRY_AFTER), "1", "{at}");
        assert_eq!(header_text(&answer, header::CONNECTION), "close", "{at}");
        let response = resolve(
            &doc,
            &doc["paths"][&path][method.to_ascii_lowercase()]["responses"]["503"],
        );
        assert!(
            response["description"]
                .as_str()
                .is_some_and(|d| d.contains("`overloaded`")),
            "{at}"
        );
        closed_soon(&mut refused).await;
    }
    drop(busy);
}

/// A database that does not answer (another process holds SQLite's write lock): `/healthz`
/// answers 503 `degraded` with `storage: timeout` within its timeout, attempts waiting for the
/// database get 503 `storage_unavailable` with `Retry-After: 5`, and while the client's only
/// slot is held by its attempt in flight, its other attempts (decoys too) get 429 with
/// `Retry-After: 1`; all as documented.
#[tokio::test]
async fn a_database_that_does_not_answer_gets_the_documented_503s_and_429s() {
    let (dir, app) = app_with(|c| {
        c.storage.busy_timeout_ms = 2_000;
        c.storage.health_timeout_ms = 200;
        c.rate_limit.client_failures_per_window = 1;
    })
    .await;
    let doc = Arc::new(document(&app).await);
    let (v2, v3) = ("/api/v2/diagnosis", "/api/v3/diagnosis");
    let url = format!("sqlite://{}", dir.path().join("data/cocoa.db").display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();

    // Issuing holds the one write connection while it waits for the lock.
    let issuing = {
        let app = app.clone();
        tokio::spawn(async move {
            let auth = format!("Bearer {TOKEN}");
            send(
                &app,
                Method::POST,
                "/api/v1/processing-numbers",
                &[("authorization", auth.as_str()), JSON],
                "{}",
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A guess takes the client's only slot, then waits for the database.
    let onset = format!("{}T00:00:00Z", Utc::now().date_naive());
    let guess = json!(registration("99999999", &onset, vec![key(1, day_start(1))]));
    let guessing = {
        let (app, doc, guess) = (app.clone(), doc.clone(), guess.clone());
        tokio::spawn(async move { register(&app, &doc, v2, &guess, &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    for path in [v2, v3] {
        let real = register(&app, &doc, path, &guess, &[]).await;
        assert_eq!(real.error_code(), codes::RATE_LIMITED, "{path}");
        assert_eq!(header_text(&real, header::RETRY_AFTER), "1", "{path}");
        let decoy = register(&app, &doc, path, &guess, &[("x-chaff", "1")]).await;
        assert_same_answer(&real, &decoy, 0);
    }

    let started = Instant::now();
    let health = send(&app, Method::GET, "/healthz", &[], Body::empty()).await;
    check_answer(&doc, &Method::GET, "/healthz", &health);
    check_health_503(&doc, &health);
    assert!(started.elapsed() < Duration::from_millis(200) + SLACK);
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header_text(&health, header::RETRY_AFTER), "5");
    let body = health.json();
    assert_eq!(
        (&body["error"], &body["status"], &body["storage"]),
        (
            &json!(codes::STORAGE_UNAVAILABLE),
            &json!("degraded"),
            &json!("timeout")
        ),
        "{body}"
    );

    let issued = issuing.await.unwrap();
    check_answer(&doc, &Method::POST, "/api/v1/processing-numbers", &issued);
    let guessed = guessing.await.unwrap();
    for answer in [&issued, &guessed] {
        assert_eq!(answer.error_code(), codes::STORAGE_UNAVAILABLE);
        assert_eq!(header_text(answer, header::RETRY_AFTER), "5");
    }

    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let health = send(&app, Method::GET, "/healthz", &[], Body::empty()).await;
    check_answer(&doc, &Method::GET, "/healthz", &health);
    assert_eq!(health.json(), json!({"status": "ok", "storage": "ok"}));
}

/// A 503 of `/healthz` is checked strictly by `check_answer`; it must also fit the documented
/// schema by JSON Schema's own rules (where `ErrorBody` would take any member it does not
/// list), under exactly one of its `oneOf` choices.
fn check_health_503(doc: &Value, answer: &Answer) {
    let schema = &doc["paths"]["/healthz"]["get"]["responses"]["503"]["content"]
        ["application/json"]["schema"];
    allows(doc, schema, &answer.json()).unwrap();
}

/// A database that fails (PostgreSQL refusing connections): `/healthz` answers 503 `degraded`
/// with `storage: error` and `Retry-After: 5`, as documented.
#[tokio::test]
async fn a_failing_database_makes_healthz_degraded_as_documented() {
    let Some(db) = cocoa_server::testing::TestDatabase::create().await else {
        return;
    };
    let (_dir, app) = app_with(|c| c.database_url = Some(db.url.clone())).await;
    let doc = document(&app).await;
    let health = send(&app, Method::GET, "/healthz", &[], Body::empty()).await;
    assert_eq!(health.status, StatusCode::OK);

    let name = db
        .url
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let admin_url = std::env::var(cocoa_server::testing::TEST_DATABASE_URL_VAR).unwrap();
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let allow = |allowed: bool| format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allowed}");
    sqlx::query(&allow(false))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(&mut admin)
        .await
        .unwrap();
    let health = send(&app, Method::GET, "/healthz", &[], Body::empty()).await;
    check_answer(&doc, &Method::GET, "/healthz", &health);
    check_health_503(&doc, &health);
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header_text(&health, header::RETRY_AFTER), "5");
    let body = health.json();
    assert_eq!(
        (&body["error"], &body["status"], &body["storage"]),
        (
            &json!(codes::STORAGE_UNAVAILABLE),
            &json!("degraded"),
            &json!("error")
        ),
        "{body}"
    );

    sqlx::query(&allow(true)).execute(&mut admin).await.unwrap();
    let health = send(&app, Method::GET, "/healthz", &[], Body::empty()).await;
    check_answer(&doc, &Method::GET, "/healthz", &health);
    assert_eq!(health.status, StatusCode::OK);
}
