//! The matching engine (being written).
