//! The synthetic-city simulator driving phones through the real server. Empty until the simulator issue.
