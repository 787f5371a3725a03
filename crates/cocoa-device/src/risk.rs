//! Risk scoring (being written).
