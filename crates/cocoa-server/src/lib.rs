//! The key server: registration, export, publication, survey ingestion. Empty until issue order 2.
