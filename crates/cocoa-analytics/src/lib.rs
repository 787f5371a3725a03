//! The published analysis of the end-of-use survey. Empty until the survey analysis issue.
