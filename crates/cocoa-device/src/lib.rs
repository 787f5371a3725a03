//! The phone: key schedule, sightings, matching, history, registration, survey. Empty until the device SDK (issue order 4).
