//! A fake server for the phone's tests: a map from URL to answer, recording what was asked for
//! and what was sent.

#![allow(dead_code)]

use cocoa_device::{Http, NetworkError, Response};
use std::cell::RefCell;
use std::collections::HashMap;

/// A server in a map: URL -> answer. Records the URLs asked for and what was sent.
#[derive(Default)]
pub struct FakeHttp {
    pub answers: RefCell<HashMap<String, Result<Response, NetworkError>>>,
    pub sent: RefCell<Vec<(String, Vec<u8>)>>,
    pub asked: RefCell<Vec<String>>,
}

impl FakeHttp {
    pub fn answer(&self, url: &str, status: u16, body: impl Into<Vec<u8>>) {
        self.answers.borrow_mut().insert(
            url.to_owned(),
            Ok(Response {
                status,
                body: body.into(),
                retry_after: Some(30),
            }),
        );
    }
    /// How many times `url` was asked for (GET or PUT).
    pub fn times_asked(&self, url: &str) -> usize {
        self.asked.borrow().iter().filter(|u| *u == url).count()
    }
    pub fn fail(&self, url: &str) {
        self.answers.borrow_mut().insert(
            url.to_owned(),
            Err(NetworkError("connection refused".into())),
        );
    }
}

impl Http for FakeHttp {
    fn get(&self, url: &str) -> Result<Response, NetworkError> {
        self.asked.borrow_mut().push(url.to_owned());
        self.answers
            .borrow()
            .get(url)
            .cloned()
            .unwrap_or(Ok(Response {
                status: 404,
                body: vec![],
                retry_after: None,
            }))
    }
    fn put_json(&self, url: &str, body: &[u8]) -> Result<Response, NetworkError> {
        self.sent.borrow_mut().push((url.to_owned(), body.to_vec()));
        self.get(url)
    }
}
